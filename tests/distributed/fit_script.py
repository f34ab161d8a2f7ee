"""One training run, printed as JSON on the last line: the distributed tests start it in fresh processes.

``python fit_script.py DTYPE DISTRIBUTION [PROCESS_ID PORT]``: DISTRIBUTION is ``none`` (one device), ``data``
(DataParallel over every device), ``model`` (ModelParallel over a 2x2 mesh) or ``processes`` (DataParallel over
two processes, joined through ``127.0.0.1:PORT``). JAX's device count comes from ``XLA_FLAGS``, set by the test.
"""

from __future__ import annotations

import json
import sys

import numpy as np

import highnn as hn

ROWS, BATCH = 263, 32  # the last batch has 7 rows: split over no number of devices


def main(dtype: str, kind: str, process_id: int | None = None, port: int | None = None) -> None:
    if kind == "processes":
        hn.distribution.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process_id)
    hn.config.set_floatx(dtype)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(ROWS, 5)), rng.integers(0, 3, size=ROWS)  # labels: the loss gathers along the batch
    hn.utils.set_random_seed(1)
    model = hn.Sequential([
        hn.Input((5,)),
        hn.layers.Dense(8, activation="relu", kernel_regularizer="l2", name="wide"),
        hn.layers.Dropout(0.25, seed=3),
        hn.layers.Dense(3, name="head"),
    ])  # fmt: skip
    loss = hn.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])  # built before the distribution: it must move
    if kind == "model":
        mesh = hn.distribution.DeviceMesh((2, 2), ["batch", "model"])
        layout_map = hn.distribution.LayoutMap(mesh)
        layout_map["wide/kernel"] = (None, "model")
        hn.distribution.set_distribution(hn.distribution.ModelParallel(layout_map=layout_map))
    elif kind != "none":
        hn.distribution.set_distribution(hn.distribution.DataParallel())
    history = model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0)
    result = {
        "history": history.history,
        "evaluate": model.evaluate(x, y, batch_size=BATCH, verbose=0),
        "predict": model.predict(x, batch_size=BATCH, verbose=0).tolist(),
        "weights": [w.tolist() for w in model.get_weights()],
        "process_count": hn.config.settings.backend.process_count(),
    }
    if kind in ("data", "model"):
        result.update(inspect(model, x[:BATCH], y[:BATCH]))
    print(json.dumps(result))


def inspect(model: hn.Model, x: np.ndarray, y: np.ndarray) -> dict[str, object]:
    """How the compiled train step of a full batch lays out its arguments, and its all-reduces."""
    function = model._functions[("train", 2, False, False)]
    key = next(key for key in function.programs if key[2][0][0] == BATCH)
    program, compiled = function.programs[key]
    dtype = hn.config.floatx()
    arguments = [x.astype(dtype), y, *(v.value for v in program.read)]
    executable = compiled.lower(*arguments).compile()
    specs = {v.path: v.value.sharding.spec for v in [*model.variables, *model.optimizer.variables]}
    return {
        "all_reduces": executable.as_text().count(" all-reduce("),
        "batch_spec": [str(axis) for axis in executable.input_shardings[0][0].spec],
        "variable_specs": {path: [str(axis) for axis in spec] for path, spec in specs.items()},
    }


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:]))
