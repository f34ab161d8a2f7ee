"""torch DataParallel: processes launched by torchrun (gloo) end equal to each other and to one process.

Each job runs in a subprocess with a short timeout, so a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import require_backend

import highnn as hn
from highnn.batch_share import share_of
from highnn.config import use_backend

from .torch_worker import BATCH, ROWS, data, model

WORKER = Path(__file__).with_name("torch_worker.py")
EXAMPLE = Path(__file__).parents[2] / "examples" / "distributed_torch.py"
SCENARIOS = ["plain", "replicated", "synchronized", "local_batchnorm", "stops", "saves", "mismatch", "equal_weights"]
TIMEOUT = 240  # seconds for one job of two processes on a busy 2-core machine
ENVIRONMENT = {
    "HIGHNN_BACKEND": "torch",
    "HIGHNN_FLOATX": "float64",
    "OMP_NUM_THREADS": "1",
    "HIGHNN_DISTRIBUTION_TIMEOUT": "60",  # a collective waits at most a minute for a missing process
}


def torchrun(*arguments: str) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc_per_node=2 ARGUMENTS`` with gloo on the CPU."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env={**os.environ, **ENVIRONMENT})


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Every scenario once under torchrun and once in one process; the folder of results and the job's output."""
    require_backend("torch")
    out = tmp_path_factory.mktemp("torch_data_parallel")
    job = torchrun(str(WORKER), str(out), *SCENARIOS)
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
    (out / "alone").mkdir()
    alone = subprocess.run([sys.executable, str(WORKER), str(out / "alone"), *SCENARIOS], capture_output=True,
                           text=True, timeout=TIMEOUT, env={**os.environ, **ENVIRONMENT}, check=False)  # fmt: skip
    assert alone.returncode == 0, alone.stderr[-3000:]
    return out, job.stdout


def load(out: Path, name: str) -> dict[str, np.ndarray]:
    with np.load(out / f"{name}.npz") as saved:
        return dict(saved)


def assert_close(got: dict[str, np.ndarray], expected: dict[str, np.ndarray], tolerance: float) -> None:
    assert sorted(got) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=0, atol=tolerance, err_msg=key)


@pytest.mark.parametrize("scenario", ["plain", "replicated", "synchronized", "local_batchnorm", "saves"])
def test_processes_end_bitwise_equal(results: tuple[Path, str], scenario: str) -> None:
    out, _ = results
    first, second = load(out, f"{scenario}.0"), load(out, f"{scenario}.1")
    for key in first:
        assert np.array_equal(first[key], second[key]), key


@pytest.mark.parametrize("scenario", ["plain", "replicated", "synchronized", "saves"])
def test_equals_one_process(results: tuple[Path, str], scenario: str) -> None:
    """Weights, History, evaluate() (every row counted) and predict() (every row, in order) of one process,
    with Dropout, L2 and L1 activity penalties, an uneven last batch (4 + 3 rows) or one smaller than the world."""
    out, _ = results
    expected = load(out / "alone", f"{scenario}.0")
    assert expected["predict"].shape == (257 if scenario == "replicated" else 263, 2)
    assert_close(load(out, f"{scenario}.0"), expected, 1e-10)


def test_each_process_steps_on_its_share_of_the_rows(results: tuple[Path, str]) -> None:
    """fit's and evaluate's 32-row batches run as 16 + 16 rows, the last 7 as 4 + 3; predict's 50 as 25 + 25, the
    last 13 as 7 + 6. One process traces whole batches."""
    out, _ = results
    assert [(out / f"plain.{rank}.rows").read_text() for rank in (0, 1)] == ["4 7 16 25", "3 6 16 25"]
    assert (out / "alone" / "plain.0.rows").read_text() == ""


def test_averaging_processes_equally_would_fail(results: tuple[Path, str]) -> None:
    """Weighting each process by its rows matters: equal weights miss one process by far more than rounding."""
    out, _ = results
    expected, equal = load(out / "alone", "plain.0"), load(out, "equal_weights.0")
    assert max(np.abs(equal[k] - expected[k]).max() for k in expected if k.startswith("weight")) > 1e-4


def test_local_batchnorm_statistics_differ_from_one_process(results: tuple[Path, str]) -> None:
    """Unsynchronized BatchNorm normalises by each process's rows (documented): not one process's numbers."""
    out, _ = results
    expected, local = load(out / "alone", "local_batchnorm.0"), load(out, "local_batchnorm.0")
    assert np.abs(local["predict"] - expected["predict"]).max() > 1e-6


def test_a_process_that_stops_training_stops_every_process(results: tuple[Path, str]) -> None:
    out, _ = results
    assert [len(load(out, f"stops.{rank}")["history_loss"]) for rank in (0, 1)] == [1, 1]


def test_process_zero_alone_writes_logs_checkpoints_and_models(results: tuple[Path, str]) -> None:
    """CSVLogger appends once per epoch (not once per process); ModelCheckpoint and model.save write one file
    that every process then loads (``saves`` predicts with the loaded model)."""
    out, _ = results
    assert len((out / "log.csv").read_text().splitlines()) == 1 + 2
    assert (out / "checkpoint.highnn").exists()


def test_processes_with_different_data_fail_clearly(results: tuple[Path, str]) -> None:
    _, output = results
    for rank in (0, 1):
        assert f"rank {rank}: fit: every process of a DataParallel job must pass the same arrays" in output


def test_a_failing_process_ends_the_job_with_its_error(tmp_path: Path) -> None:
    require_backend("torch")
    job = torchrun(str(WORKER), str(tmp_path), "raises")
    assert job.returncode != 0
    assert "process 1 fails on purpose" in job.stdout + job.stderr


def test_example_runs_under_torchrun() -> None:
    require_backend("torch")
    job = torchrun(str(EXAMPLE))
    assert job.returncode == 0, job.stderr[-3000:]
    assert "process 0 of 2" in job.stdout


@pytest.mark.parametrize("rows", [1, 2, 7, 32, 33])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_shares_cut_the_batch_as_array_split(rows: int, world: int) -> None:
    shares = [share_of(rows, rank, world) for rank in range(world)]
    if rows < world:
        assert all((s.offset, s.rows, s.weight) == (0, rows, 1 / world) for s in shares)
        return
    parts = np.array_split(np.arange(rows), world)
    assert [np.arange(s.offset, s.offset + s.rows).tolist() for s in shares] == [p.tolist() for p in parts]
    assert sum(s.weight for s in shares) == pytest.approx(1.0, abs=1e-15)
    assert shares[0].counts == tuple(len(p) for p in parts)


def fit_alone_and_under_data_parallel() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The worker's model fitted in this process, without and with ``DataParallel`` over a world of one."""
    x, y = data(ROWS)
    weights = []
    for distribution in (None, hn.distribution.DataParallel()):
        built = model("plain")
        with distribution.scope() if distribution is not None else contextlib.nullcontext():
            built.fit(x, y, batch_size=BATCH, epochs=2, verbose=0)
            assert built.predict(x, verbose=0).shape == (ROWS, 2)
        weights.append(built.get_weights())
    return weights[0], weights[1]


def test_a_world_of_one_process_fits_as_without_a_distribution() -> None:
    """torch DataParallel without a process group (one process): the local view's path, the whole batch."""
    require_backend("torch")
    with use_backend("torch", floatx="float64"):
        alone, distributed = fit_alone_and_under_data_parallel()
    for a, b in zip(alone, distributed):
        assert np.array_equal(a, b)


def test_a_loss_reduction_weighting_cannot_make_exact_is_refused_before_anything_changes() -> None:
    require_backend("torch")
    x, y = data(ROWS)
    with use_backend("torch", floatx="float64"), hn.distribution.DataParallel().scope():
        built = model("plain")
        built.compile(optimizer="adam", loss=hn.losses.MeanSquaredError(reduction="mean_with_sample_weight"))
        before = built.get_weights()
        with pytest.raises(ValueError, match=r"fit: under torch DataParallel the loss's `reduction` must be one of"):
            built.fit(x, y, batch_size=BATCH, verbose=0)
        for a, b in zip(before, built.get_weights()):
            assert np.array_equal(a, b)


def test_synchronized_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match=r"BatchNormalization: `synchronized` must be"):
        hn.layers.BatchNormalization(synchronized="yes")


def test_initialize_joins_a_job_at_the_given_address() -> None:
    """``initialize(job_addresses=..., num_processes=..., process_id=...)`` without torchrun (a job of one)."""
    require_backend("torch")
    script = (
        "import highnn as hn, torch.distributed as dist\n"
        "hn.distribution.initialize(job_addresses='127.0.0.1:29531', num_processes=1, process_id=0)\n"
        "hn.distribution.initialize()  # a second call keeps the group\n"
        "print(dist.get_backend(), hn.distribution.list_devices(), hn.config.settings.backend.process_count())\n"
    )
    job = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=TIMEOUT,
                         env={**os.environ, **ENVIRONMENT}, check=False)  # fmt: skip
    assert job.returncode == 0, job.stderr[-3000:]
    assert job.stdout.strip() == "gloo ['cpu:0'] 1"
