"""The deployment files against the code they run, so that neither can drift silently.

deploy/Dockerfile, docker-compose.yml and deploy/k8s/*.yaml are read as text and YAML (no
Docker, no cluster). Each container is resolved to the command line it runs, as Docker and
Kubernetes combine the image's entry point with `command`/`args`; that command line must name
a real `hpsearch` command and real options (read from the typer app, and parsed by click),
and every `HPSEARCH_*` variable the container sets must be one that command reads (its
options' `envvar`s; for `serve`, the controller's settings too). Then what a fleet depends on:
GPUs for workers, /healthz checks on the controller, scalable workers, no TensorFlow in the
controller image, references between manifests that resolve.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import yaml

from hpsearch.cli import app
from service.settings import Settings
from tests.support.commands import check_command_line

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
K8S_DIR = ROOT / "deploy" / "k8s"
SUPERVISOR = ROOT / "workers" / "supervisor.py"
TARGETS = ("controller", "worker")
IMAGE_PREFIX = "hpsearch-"  # k8s images are hpsearch-<Dockerfile target>
HPSEARCH_VAR = re.compile(r"^HPSEARCH_[A-Z0-9_]+$")
DOCUMENTED_COMMAND = re.compile(r"`(hpsearch [^`]+)`")


# ---- reading the Dockerfile ------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    name: str
    base: str
    instructions: tuple[tuple[str, str], ...]

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]

    def exec_form(self, keyword: str) -> list[str]:
        """The last CMD or ENTRYPOINT in JSON form; [] when the stage sets none."""
        found = self.all(keyword)
        if not found:
            return []
        value = json.loads(found[-1])
        assert isinstance(value, list), f"{self.name}: {keyword} must be in exec (JSON) form"
        return [str(part) for part in value]


def dockerfile_lines(text: str) -> Iterator[str]:
    """Logical lines: comments dropped, backslash continuations joined."""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield pending + line
        pending = ""
    if pending:
        yield pending


def parse_dockerfile() -> dict[str, Stage]:
    args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: list[tuple[str, str]] | None = None
    for line in dockerfile_lines(DOCKERFILE.read_text()):
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG" and current is None and "=" in rest:
            name, _, default = rest.partition("=")
            args[name] = default.strip('"')
        elif keyword == "FROM":
            parts = rest.split()
            assert len(parts) == 3 and parts[1].upper() == "AS", f"unnamed stage: {line}"
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), parts[0])
            current = []
            stages[parts[2]] = Stage(parts[2], base, ())
        elif current is not None:
            current.append((keyword, rest))
            name = next(reversed(stages))
            stages[name] = Stage(name, stages[name].base, tuple(current))
    return stages


def target(name: str) -> Stage:
    stages = parse_dockerfile()
    assert name in stages, f"deploy/Dockerfile has no `{name}` target (stages: {list(stages)})"
    return stages[name]


# ---- reading compose and the k8s manifests ---------------------------------------------


_INNERMOST = re.compile(r"\$\{(\w+)(?:(:?[-?+])([^${}]*))?\}")


def interpolate(value: str) -> str:
    """A compose value as it reads with no variables set: defaults taken, required ones
    standing in as `<NAME>`, innermost first so that nested defaults resolve too."""
    while match := _INNERMOST.search(value):
        name, operator, argument = match.groups()
        if operator in (":-", "-"):
            replacement = argument
        elif operator in (":?", "?"):
            replacement = f"<{name}>"
        else:
            replacement = ""
        value = value[: match.start()] + replacement + value[match.end() :]
    return value


def compose_services() -> dict[str, dict[str, Any]]:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert isinstance(services, dict)
    return services


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): interpolate(str(v)) for k, v in env.items()}


def k8s_files() -> list[Path]:
    files = sorted(K8S_DIR.glob("*.yaml"))
    assert files, f"no manifests in {K8S_DIR}"
    return files


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, doc)
        for path in k8s_files()
        for doc in yaml.safe_load_all(path.read_text())
        if doc is not None
    ]


def k8s_containers() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(the workload's name, its pod spec, one of its containers) for every workload."""
    found = []
    for _, doc in k8s_documents():
        pod = doc.get("spec", {}).get("template", {}).get("spec")
        if pod:
            for container in pod.get("containers", []) + pod.get("initContainers", []):
                found.append((doc["metadata"]["name"], pod, container))
    return found


def k8s_by_kind() -> dict[str, dict[str, dict[str, Any]]]:
    """kind → name → document."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for _, doc in k8s_documents():
        found.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    return found


def image_target(image: str) -> str | None:
    """The Dockerfile target an image is built from: registry/hpsearch-worker:1 → worker."""
    name = re.split(r"[:@]", image.rsplit("/", 1)[-1], maxsplit=1)[0]
    return name[len(IMAGE_PREFIX) :] if name.startswith(IMAGE_PREFIX) else None


def k8s_component(component: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod spec and container of the workload that runs `component`'s image."""
    for _, pod, container in k8s_containers():
        if image_target(container["image"]) == component:
            return pod, container
    raise AssertionError(f"no Kubernetes workload runs the {component} image")


# ---- what each container runs, and what that reads -------------------------------------


@dataclass(frozen=True)
class Container:
    """One container the files define: where, the command line it runs (entry point and
    arguments, as Docker and Kubernetes combine them), the variables it sets, its target."""

    where: str
    argv: tuple[str, ...]
    variables: tuple[str, ...]
    target: str | None


def dockerfile_containers() -> list[Container]:
    found = []
    for name in TARGETS:
        stage = target(name)
        argv = stage.exec_form("ENTRYPOINT") + stage.exec_form("CMD")
        variables = []
        for args in stage.all("ENV"):
            tokens = shlex.split(args)
            variables += [t.split("=", 1)[0] for t in tokens] if "=" in tokens[0] else tokens[:1]
        found.append(Container(f"Dockerfile {name}", tuple(argv), tuple(variables), name))
    return found


def compose_containers() -> list[Container]:
    found = []
    for name, service in compose_services().items():
        build = service.get("build")
        argv: list[str] = []
        if isinstance(build, dict):
            assert build.get("dockerfile") == "deploy/Dockerfile", f"compose {name}: {build}"
            stage = target(build["target"])
            command = service.get("command", stage.exec_form("CMD"))
            command = shlex.split(command) if isinstance(command, str) else command
            entrypoint = service.get("entrypoint", stage.exec_form("ENTRYPOINT"))
            argv = [interpolate(str(part)) for part in [*entrypoint, *command]]
        variables = tuple(compose_environment(service))
        found.append(
            Container(f"compose {name}", tuple(argv), variables, (build or {}).get("target"))
        )
    return found


def k8s_workload_containers() -> list[Container]:
    found = []
    for workload, _, container in k8s_containers():
        name = image_target(container["image"])
        argv: list[str] = []
        if name is not None:
            stage = target(name)
            # Kubernetes: `command` replaces the ENTRYPOINT (and drops the CMD), `args` the CMD.
            entrypoint = container.get("command", stage.exec_form("ENTRYPOINT"))
            default_args = [] if "command" in container else stage.exec_form("CMD")
            argv = [*entrypoint, *container.get("args", default_args)]
        variables = tuple(item["name"] for item in container.get("env", []))
        found.append(Container(f"k8s {workload}/{container['name']}", tuple(argv), variables, name))
    return found


SOURCES = [dockerfile_containers, compose_containers, k8s_workload_containers]


def cli_commands() -> dict[str, Any]:
    """`hpsearch`'s click commands by name (typer may vendor click: no isinstance checks)."""
    commands = getattr(typer.main.get_command(app), "commands", None)
    assert commands, "hpsearch.cli.app is not a group of commands"
    return dict(commands)


def option_envvars(command: Any) -> dict[str, str]:
    """A command's options that read the environment: option name → variable."""
    found = {}
    for param in command.params:
        envvar = getattr(param, "envvar", None)
        for name in [envvar] if isinstance(envvar, str) else envvar or []:
            found[param.opts[0]] = name
    return found


def variables_read_by(argv: tuple[str, ...]) -> set[str]:
    """What the process reads: its command's option variables; `serve`, the controller's
    settings too (`Settings.from_env`). Nothing for a process that is not `hpsearch`."""
    if len(argv) < 2 or Path(argv[0]).name != "hpsearch" or argv[1] not in cli_commands():
        return set()
    names = set(option_envvars(cli_commands()[argv[1]]).values())
    return names | set(Settings.env_names()) if argv[1] == "serve" else names


def worker_variable(option: str) -> str:
    """The variable `hpsearch worker` reads `option` from (--controller, --token)."""
    envvars = option_envvars(cli_commands()["worker"])
    assert option in envvars, f"`hpsearch worker {option}` reads no environment variable"
    return envvars[option]


def supervisor_grace_seconds() -> float:
    """The default of `Supervisor(grace=...)`, read from the source (importing the workers
    package would import TensorFlow)."""
    tree = ast.parse(SUPERVISOR.read_text())
    (supervisor,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Supervisor"]
    for node in supervisor.body:
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            arguments = node.args.args[-len(node.args.defaults) :]
            for argument, default in zip(arguments, node.args.defaults, strict=True):
                if argument.arg == "grace" and isinstance(default, ast.Constant):
                    return float(default.value)
    raise AssertionError("workers/supervisor.py: Supervisor(grace=...) has no default to read")


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"bad duration {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


# ---- environment variables and command lines -------------------------------------------


@pytest.mark.parametrize("source", SOURCES, ids=lambda f: f.__name__)
def test_every_hpsearch_variable_is_read_by_the_process_it_reaches(source) -> None:
    found = 0
    for container in source():
        accepted = variables_read_by(container.argv)
        for name in filter(HPSEARCH_VAR.match, container.variables):
            found += 1
            assert name in accepted, (
                f"{container.where} sets {name}, which `{shlex.join(container.argv)}` never "
                f"reads; it reads {sorted(accepted)}"
            )
    assert found, "no HPSEARCH_* variable found: is the file still being read?"


@pytest.mark.parametrize("source", SOURCES, ids=lambda f: f.__name__)
def test_every_hpsearch_command_line_parses(source) -> None:
    ours = [container for container in source() if container.target]
    for container in ours:
        check_command_line(list(container.argv), container.where)
    assert {c.target for c in ours} == set(TARGETS), f"expected both targets among {ours}"


@pytest.mark.parametrize("source", SOURCES[1:], ids=lambda f: f.__name__)
def test_workers_are_told_the_controller_url_and_token(source) -> None:
    wanted = {worker_variable("--controller"), worker_variable("--token")}
    workers = [c for c in source() if c.target == "worker"]
    assert workers, "no worker container"
    for container in workers:
        missing = wanted - set(container.variables)
        assert not missing, f"{container.where} does not set {missing}"


@pytest.mark.parametrize(
    "path",
    [DOCKERFILE, COMPOSE, *sorted(K8S_DIR.glob("*.yaml"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_commands_shown_in_comments_exist(path: Path) -> None:
    shown = DOCUMENTED_COMMAND.findall(path.read_text())
    for line in shown:
        check_command_line(shlex.split(line), f"{path.name}: `{line}`", parse=False)


# ---- the Dockerfile --------------------------------------------------------------------


def pip_extras(stage: Stage) -> set[str]:
    installs = [args for args in stage.all("RUN") if "pip install" in args]
    assert installs, f"the {stage.name} target installs nothing with pip"
    assert all("--no-cache-dir" in line for line in installs), f"{stage.name}: pip cache kept"
    extras = re.findall(r"\[([\w,\s-]+)\]", " ".join(installs))
    return {extra.strip() for group in extras for extra in group.split(",")}


def test_the_controller_image_installs_no_tensorflow() -> None:
    stage = target("controller")
    assert pip_extras(stage) == {"postgres"}
    assert "tensorflow" not in stage.base + " ".join(stage.all("RUN")).lower()
    assert stage.base.startswith("python:3.1"), stage.base


def test_the_worker_image_is_tensorflow_on_gpu() -> None:
    stage = target("worker")
    assert "worker" in pip_extras(stage)
    assert re.match(r"tensorflow/tensorflow:2\.\d+\.\d+-gpu$", stage.base), stage.base


@pytest.mark.parametrize("name", TARGETS)
def test_images_run_unprivileged_and_unbuffered(name: str) -> None:
    stage = target(name)
    users = stage.all("USER")
    assert users and users[-1] not in ("root", "0"), f"{name} runs as root"
    assert "PYTHONUNBUFFERED=1" in " ".join(stage.all("ENV")).split()


def test_the_controller_image_checks_its_health() -> None:
    stage = target("controller")
    (healthcheck,) = stage.all("HEALTHCHECK")
    assert "/healthz" in healthcheck and ":8000" in healthcheck
    assert stage.all("EXPOSE") == ["8000"]


# ---- docker-compose.yml ----------------------------------------------------------------


def test_compose_worker_gets_gpus() -> None:
    devices = compose_services()["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)


def test_compose_worker_scales() -> None:
    worker = compose_services()["worker"]
    assert "container_name" not in worker, "a fixed container_name stops --scale worker=N"
    assert "ports" not in worker, "published ports clash between worker replicas"


def test_compose_controller_checks_its_health() -> None:
    healthcheck = compose_services()["controller"]["healthcheck"]
    assert any("/healthz" in str(part) for part in healthcheck["test"]), healthcheck


def test_compose_starts_in_order_and_urls_name_services() -> None:
    services = compose_services()
    assert services["controller"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["worker"]["depends_on"]["controller"]["condition"] == "service_healthy"
    assert "pg_isready" in str(services["postgres"]["healthcheck"]["test"])
    worker_env = compose_environment(services["worker"])
    controller_url = urlsplit(worker_env[worker_variable("--controller")])
    database_url = urlsplit(compose_environment(services["controller"])["HPSEARCH_DATABASE_URL"])
    assert (controller_url.hostname, controller_url.port) == ("controller", 8000)
    assert "8000:8000" in [str(p) for p in services["controller"]["ports"]]
    assert database_url.hostname in services and database_url.scheme.startswith("postgresql")


def test_compose_worker_outlasts_the_hand_back() -> None:
    grace = seconds(compose_services()["worker"]["stop_grace_period"])
    assert grace > supervisor_grace_seconds(), "Docker kills the worker before it hands back"


# ---- deploy/k8s ------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(K8S_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_k8s_documents_are_named_resources(path: Path) -> None:
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert documents, f"{path.name} holds no document"
    for doc in documents:
        assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), doc
        assert doc.get("metadata", {}).get("name"), f"{path.name}: a {doc['kind']} without name"


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    manifests = {p.name for p in k8s_files()} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests
    images = {image["name"] for image in kustomization.get("images", [])}
    assert images == {IMAGE_PREFIX + name for name in TARGETS}


def test_k8s_worker_requests_a_gpu_and_time_to_hand_back() -> None:
    pod, worker = k8s_component("worker")
    assert int(worker["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    assert pod["terminationGracePeriodSeconds"] > supervisor_grace_seconds()


def test_k8s_controller_probes_healthz() -> None:
    _, controller = k8s_component("controller")
    ports = {p.get("name"): p["containerPort"] for p in controller["ports"]}
    for probe in ("readinessProbe", "livenessProbe"):
        get = controller[probe]["httpGet"]
        assert get["path"] == "/healthz", f"{probe}: {get}"
        assert ports.get(get["port"], get["port"]) == 8000, f"{probe} on port {get['port']}"


def test_k8s_references_resolve() -> None:
    by_kind = k8s_by_kind()
    for workload, pod, container in k8s_containers():
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                secret = by_kind["Secret"].get(ref["name"], {})
                keys = {**secret.get("data", {}), **secret.get("stringData", {})}
                assert ref["key"] in keys, f"{workload}: no key {ref['key']} in {ref['name']}"
        for volume in pod.get("volumes", []):
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            assert claim is None or claim in by_kind["PersistentVolumeClaim"], claim
    pods = [pod_labels(doc) for _, doc in k8s_documents() if pod_labels(doc)]
    for name, service in by_kind["Service"].items():
        selector = service["spec"]["selector"].items()
        assert any(selector <= labels.items() for labels in pods), f"Service {name} selects none"


def pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    return doc.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})


def test_k8s_urls_name_services() -> None:
    services = k8s_by_kind()["Service"]
    _, worker = k8s_component("worker")
    variable = worker_variable("--controller")
    url = urlsplit(next(e["value"] for e in worker["env"] if e["name"] == variable))
    assert url.hostname in services, f"the worker calls {url.hostname}: no such Service"
    assert url.port in [p["port"] for p in services[url.hostname]["spec"]["ports"]]
    (secret,) = k8s_by_kind()["Secret"].values()
    database = urlsplit(secret["stringData"]["database-url"])
    assert database.hostname in services and database.scheme.startswith("postgresql")


def test_k8s_controller_replicas_share_their_artifacts() -> None:
    pod, _ = k8s_component("controller")
    by_kind = k8s_by_kind()
    (deployment,) = [
        d for d in by_kind["Deployment"].values() if d["spec"]["template"]["spec"] == pod
    ]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod.get("volumes", [])
              if "persistentVolumeClaim" in v]  # fmt: skip
    assert claims, "the controller keeps its models on no volume"
    modes = by_kind["PersistentVolumeClaim"][claims[0]]["spec"]["accessModes"]
    if deployment["spec"].get("replicas", 1) > 1:
        assert "ReadWriteMany" in modes, "replicas would each keep some of the models"
