"""Command line: ``python -m highnn verify [MODEL.highnn] [--backends ...] [--batch N]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

import highnn as hn
from highnn.verify import verify


def demo_model() -> hn.Sequential:
    """The built-in model: the quickstart's 64-32-10 softmax classifier."""
    hn.utils.set_random_seed(0)
    model = hn.Sequential(
        [hn.Input((64,)), hn.layers.Dense(32, activation="relu"), hn.layers.Dense(10, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def random_batch(model: hn.Model, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs of the model's input shape and targets of the kind its loss expects."""
    rng = np.random.default_rng(seed)
    input_layer = getattr(model, "input_layer", None)
    if input_layer is None:
        raise SystemExit("verify: the model does not declare its input shape (start it with hn.Input).")
    x = rng.normal(size=(batch, *input_layer.shape))
    outputs = tuple(n for n in model.compute_output_shape(x.shape) if n is not None)  # all known, as x's are
    if isinstance(model.loss, hn.losses.SparseCategoricalCrossentropy):
        return x, rng.integers(0, outputs[-1], size=batch)
    if isinstance(model.loss, hn.losses.CategoricalCrossentropy):
        return x, np.eye(outputs[-1])[rng.integers(0, outputs[-1], size=batch)]
    if isinstance(model.loss, hn.losses.BinaryCrossentropy):
        return x, rng.integers(0, 2, size=outputs).astype(float)
    return x, rng.normal(size=outputs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m highnn", description="highnn command line tools")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "verify", help="compare a model's gradients across backends and with finite differences"
    )
    check.add_argument("model", nargs="?", help="a saved model (.highnn); the built-in demo model when omitted")
    check.add_argument(
        "--backends", default=None, help="comma-separated, e.g. numpy,torch,jax (default: all installed)"
    )
    check.add_argument("--batch", type=int, default=16, help="examples in the random batch (default 16)")
    check.add_argument("--seed", type=int, default=0, help="seed of the random batch")
    check.add_argument("--floatx", default="float64", choices=["float64", "float32"])
    check.add_argument("--entries", type=int, default=32, help="entries per weight checked by finite differences")
    check.add_argument("--no-finite-differences", action="store_true")
    args = parser.parse_args(argv)

    model = hn.models.load_model(args.model) if args.model else demo_model()
    x, y = random_batch(model, args.batch, args.seed)
    report = verify(model, x, y, backends=args.backends.split(",") if args.backends else None, floatx=args.floatx,
                    finite_differences=not args.no_finite_differences, entries_per_weight=args.entries)  # fmt: skip
    print(report)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
