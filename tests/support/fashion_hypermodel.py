"""The classic KerasTuner Fashion-MNIST tutorial hypermodel, sized for digits (8x8x1).

`padding="same"` keeps both kernel sizes valid on 8x8 inputs; filters and units are the
tutorial's.
"""

from __future__ import annotations

from typing import Any

import keras

INPUT_SHAPE = (8, 8, 1)


def build_model(hp: Any) -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            keras.layers.Conv2D(
                filters=hp.Int("conv_1_filter", min_value=32, max_value=128, step=16),
                kernel_size=hp.Choice("conv_1_kernel", values=[3, 5]),
                activation="relu",
                padding="same",
            ),
            keras.layers.Conv2D(
                filters=hp.Int("conv_2_filter", min_value=32, max_value=64, step=16),
                kernel_size=hp.Choice("conv_2_kernel", values=[3, 5]),
                activation="relu",
                padding="same",
            ),
            keras.layers.Flatten(),
            keras.layers.Dense(
                units=hp.Int("dense_1_units", min_value=32, max_value=128, step=16),
                activation="relu",
            ),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(hp.Choice("learning_rate", values=[1e-2, 1e-3])),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
