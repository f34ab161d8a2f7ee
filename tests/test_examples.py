"""Every script in examples/ runs; the main ones print what they promise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import require_backend

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


def run_example(path: Path, **env: str) -> str:
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "HIGHNN_BACKEND": "numpy", **env}, cwd=path.parent)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path: Path) -> None:
    assert run_example(path)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_quickstart_reaches_95_percent_on_every_backend(backend: str) -> None:
    require_backend(backend)
    out = run_example(EXAMPLES[0].parent / "quickstart.py", HIGHNN_BACKEND=backend)
    match = re.search(rf"backend: {backend}  test loss: [\d.]+  test accuracy: ([\d.]+)", out)
    assert match and float(match.group(1)) >= 0.95, out[-500:]


def test_computation_graph_example_prints_the_seed_values() -> None:
    out = run_example(EXAMPLES[0].parent / "computation_graph.py")
    assert "y = 56   dy/da = 45   dy/db = 30" in out
    assert "digraph highnn {" in out


def test_regression_example_beats_predicting_the_mean() -> None:
    out = run_example(EXAMPLES[0].parent / "regression_early_stopping.py")
    match = re.search(r"test mean absolute error: ([\d.]+) \(predicting the mean: ([\d.]+)\)", out)
    assert match and float(match.group(1)) < 0.85 * float(match.group(2)), out
    assert re.search(r"stopped after \d+ epochs", out)


def test_dropout_batchnorm_example_generalises() -> None:
    out = run_example(EXAMPLES[0].parent / "dropout_batchnorm.py")
    match = re.search(r"test accuracy: ([\d.]+)", out)
    assert match and float(match.group(1)) >= 0.95, out[-500:]


def test_resumed_run_matches_the_uninterrupted_one_exactly() -> None:
    out = run_example(EXAMPLES[0].parent / "resume_training.py")
    assert "simulated crash after epoch 3" in out
    assert "largest weight difference between the resumed and the uninterrupted run: 0\n" in out


def test_cnn_digits_example_reaches_97_percent() -> None:
    out = run_example(EXAMPLES[0].parent / "cnn_digits.py")
    match = re.search(r"test accuracy: ([\d.]+)", out)
    assert match and float(match.group(1)) > 0.97, out[-500:]


def test_augmented_cnn_reads_turned_and_shifted_digits_the_plain_one_misreads() -> None:
    out = run_example(EXAMPLES[0].parent / "augmentation_digits.py")
    found = re.findall(r"(\w+): test accuracy ([\d.]+), on turned and shifted digits ([\d.]+)", out)
    accuracy = {name: (float(test), float(moved)) for name, test, moved in found}
    assert accuracy["plain"][0] > 0.95 and accuracy["augmented"][0] > 0.88, out[-500:]
    assert accuracy["augmented"][1] > 0.8 and accuracy["augmented"][1] > accuracy["plain"][1] + 0.2, out[-500:]


def test_conv_lstm_reads_the_direction_a_single_frame_cannot_show() -> None:
    out = run_example(EXAMPLES[0].parent / "moving_dot_video.py")
    accuracy = dict(re.findall(r"(.+): test accuracy ([\d.]+)", out))
    assert float(accuracy["ConvLSTM2D over the video"]) > 0.95, out[-500:]
    assert float(accuracy["CNN on the last frame"]) < 0.4, out[-500:]  # four directions: a guess


def test_gan_example_trains_both_models() -> None:
    out = run_example(EXAMPLES[0].parent / "gan_digits.py")
    match = re.search(r"d_loss: ([\d.]+)  g_loss: ([\d.]+)  mean pixel: real ([\d.]+), generated ([\d.]+)", out)
    assert match, out[-500:]
    d_loss, g_loss, real, generated = map(float, match.groups())
    assert 0.0 < d_loss < 1.0 and 0.0 < g_loss < 5.0, out[-500:]  # neither model has won outright
    assert abs(generated - real) < 0.25, out[-500:]  # the generator draws digit-like intensities, not noise


def test_custom_rnn_cell_example_remembers_through_its_gate() -> None:
    out = run_example(EXAMPLES[0].parent / "custom_rnn_cell.py")
    match = re.search(r"test accuracy: gated cell ([\d.]+), tanh cell ([\d.]+)", out)
    assert match and float(match.group(1)) >= 0.85 > float(match.group(2)), out
