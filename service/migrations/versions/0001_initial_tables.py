"""initial tables

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 04:40:16.357324
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hps_studies",
        sa.Column("study_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("fleet", sa.Boolean(), nullable=False),
        sa.Column("max_trials", sa.Integer(), nullable=False),
        sa.Column("max_parallel", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("optuna_name", sa.String(length=160), nullable=False),
        sa.Column("optuna_study_id", sa.Integer(), nullable=False),
        sa.Column("trials_used", sa.Integer(), nullable=False),
        sa.Column("trials_queued", sa.Integer(), nullable=False),
        sa.Column("trials_ready", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("study_id", name=op.f("pk_hps_studies")),
        sa.UniqueConstraint("optuna_name", name=op.f("uq_hps_studies_optuna_name")),
        sa.UniqueConstraint("owner", "name", name=op.f("uq_hps_studies_owner")),
    )
    with op.batch_alter_table("hps_studies", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hps_studies_runnable", ["state", "priority", "created_at"], unique=False
        )

    op.create_table(
        "hps_tokens",
        sa.Column("token_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_used_at", sa.Float(), nullable=True),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_hps_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_hps_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_hps_tokens_token_hash")),
    )
    op.create_table(
        "hps_workers",
        sa.Column("worker_id", sa.String(length=128), nullable=False),
        sa.Column("hostname", sa.String(length=256), nullable=True),
        sa.Column("device", sa.String(length=256), nullable=True),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_hps_workers")),
    )
    op.create_table(
        "hps_jobs",
        sa.Column("job_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("seeds", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("worker_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["hps_studies.study_id"],
            name=op.f("fk_hps_jobs_study_id_hps_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_hps_jobs")),
    )
    with op.batch_alter_table("hps_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_hps_jobs_queue", ["state", "created_at"], unique=False)

    op.create_table(
        "hps_trials",
        sa.Column("trial_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("trial_number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("retry_of", sa.Integer(), nullable=True),
        sa.Column("requeued", sa.Boolean(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("values", sa.JSON(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("best_epoch", sa.Integer(), nullable=True),
        sa.Column("n_params", sa.Integer(), nullable=True),
        sa.Column("device", sa.String(length=128), nullable=True),
        sa.Column("worker_id", sa.String(length=128), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["hps_studies.study_id"],
            name=op.f("fk_hps_trials_study_id_hps_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trial_id", name=op.f("pk_hps_trials")),
    )
    with op.batch_alter_table("hps_trials", schema=None) as batch_op:
        batch_op.create_index("ix_hps_trials_board", ["study_id", "state", "value"], unique=False)

    op.create_table(
        "hps_artifacts",
        sa.Column("artifact_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("filename", sa.String(length=256), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["hps_jobs.job_id"],
            name=op.f("fk_hps_artifacts_job_id_hps_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["hps_studies.study_id"],
            name=op.f("fk_hps_artifacts_study_id_hps_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("artifact_id", name=op.f("pk_hps_artifacts")),
    )
    op.create_table(
        "hps_epochs",
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("reported_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["hps_trials.trial_id"],
            name=op.f("fk_hps_epochs_trial_id_hps_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trial_id", "epoch", name=op.f("pk_hps_epochs")),
    )
    op.create_table(
        "hps_leases",
        sa.Column("lease_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("worker_id", sa.String(length=128), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("renewed_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["hps_jobs.job_id"],
            name=op.f("fk_hps_leases_job_id_hps_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["hps_studies.study_id"],
            name=op.f("fk_hps_leases_study_id_hps_studies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["hps_trials.trial_id"],
            name=op.f("fk_hps_leases_trial_id_hps_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lease_id", name=op.f("pk_hps_leases")),
    )
    with op.batch_alter_table("hps_leases", schema=None) as batch_op:
        batch_op.create_index("ix_hps_leases_expiry", ["state", "expires_at"], unique=False)
        batch_op.create_index("ix_hps_leases_study", ["study_id", "state"], unique=False)
        batch_op.create_index("ix_hps_leases_worker", ["worker_id", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hps_leases", schema=None) as batch_op:
        batch_op.drop_index("ix_hps_leases_worker")
        batch_op.drop_index("ix_hps_leases_study")
        batch_op.drop_index("ix_hps_leases_expiry")

    op.drop_table("hps_leases")
    op.drop_table("hps_epochs")
    op.drop_table("hps_artifacts")
    with op.batch_alter_table("hps_trials", schema=None) as batch_op:
        batch_op.drop_index("ix_hps_trials_board")

    op.drop_table("hps_trials")
    with op.batch_alter_table("hps_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_hps_jobs_queue")

    op.drop_table("hps_jobs")
    op.drop_table("hps_workers")
    op.drop_table("hps_tokens")
    with op.batch_alter_table("hps_studies", schema=None) as batch_op:
        batch_op.drop_index("ix_hps_studies_runnable")

    op.drop_table("hps_studies")
