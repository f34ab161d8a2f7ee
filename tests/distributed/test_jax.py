"""JAX under hn.distribution, each case in fresh processes (XLA_FLAGS must precede JAX's import): DataParallel
and ModelParallel on 4 forced CPU devices and 2 processes x 2 devices equal one device."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import require_backend

SCRIPT = Path(__file__).with_name("fit_script.py")
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}


def _environment(devices: int) -> dict[str, str]:
    """JAX on ``devices`` CPU devices; Python's fault handler on, so a process stopped with SIGABRT prints where
    each of its threads was."""
    flags = f"--xla_force_host_platform_device_count={devices}"
    return {**os.environ, "HIGHNN_BACKEND": "jax", "XLA_FLAGS": flags, "PYTHONFAULTHANDLER": "1"}


def run_job(commands: list[list[str]], devices: int, folder: Path, timeout: float = 240) -> list[str]:
    """Run the processes of one job; their stdout. The first to fail (or the clock) ends the job: the others
    are killed, and the error names the process and its last line of stderr, so a dead process never hangs a test."""
    outputs = [(folder / f"out{i}", folder / f"err{i}") for i in range(len(commands))]
    processes = [
        subprocess.Popen(command, stdout=out.open("w"), stderr=err.open("w"), env=_environment(devices))
        for command, (out, err) in zip(commands, outputs)
    ]
    deadline = time.monotonic() + timeout
    try:
        while [p.poll() for p in processes].count(None):  # poll every process, so each returncode is fresh
            failed = [i for i, p in enumerate(processes) if p.returncode not in (None, 0)]
            if failed:
                lines = outputs[failed[0]][1].read_text().strip().splitlines() or ["(no output)"]
                raise AssertionError(f"process {failed[0]} exited with {processes[failed[0]].returncode}: {lines[-1]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the job did not finish within {timeout} s\n{_stacks(processes, outputs)}")
            time.sleep(0.1)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for i, process in enumerate(processes):
        if process.returncode != 0:
            raise AssertionError(f"process {i} exited with {process.returncode}: {outputs[i][1].read_text()[-2000:]}")
    return [out.read_text() for out, _ in outputs]


def _stacks(processes: list[subprocess.Popen[bytes]], outputs: list[tuple[Path, Path]]) -> str:
    """Where each process still running is stuck: SIGABRT makes its fault handler print every thread's stack."""
    report = []
    for i, process in enumerate(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGABRT)
            with suppress(subprocess.TimeoutExpired):
                process.wait(10)
            report.append(f"process {i}, stuck:\n" + "\n".join(outputs[i][1].read_text().splitlines()[-40:]))
    return "\n".join(report)


def fit(folder: Path, dtype: str, kind: str, devices: int = 4) -> dict[str, Any]:
    """The results of one single-process run of the fit script."""
    return json.loads(run_job([[sys.executable, str(SCRIPT), dtype, kind]], devices, folder)[0].splitlines()[-1])


def free_port() -> int:
    """A free port below the kernel's ephemeral range: no socket given an automatic port (another test's, or a
    collective's connection) can take it between this probe and the coordinator's bind."""
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    lowest_ephemeral = int(ephemeral.read_text().split()[0]) if ephemeral.exists() else 32768
    for port in random.sample(range(max(1024, lowest_ephemeral - 10_000), lowest_ephemeral), 100):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port below {lowest_ephemeral}")


def assert_same_training(expected: dict[str, Any], actual: dict[str, Any], tolerance: float) -> None:
    """Weights, History, evaluate() and predict() (every row) agree."""
    close = {"rtol": tolerance, "atol": tolerance}
    assert expected["history"].keys() == actual["history"].keys()
    for name, values in expected["history"].items():
        np.testing.assert_allclose(actual["history"][name], values, **close, err_msg=name)
    np.testing.assert_allclose(actual["evaluate"], expected["evaluate"], **close)
    np.testing.assert_allclose(actual["predict"], expected["predict"], **close)
    assert np.shape(actual["predict"]) == (263, 3)
    for got, want in zip(actual["weights"], expected["weights"], strict=True):
        np.testing.assert_allclose(got, want, **close)


@pytest.fixture(autouse=True)
def _jax() -> None:
    require_backend("jax")


def test_importing_highnn_leaves_jax_distributed_initialize_possible(tmp_path: Path) -> None:
    code = (
        "import highnn as hn, jax\n"
        f"jax.distributed.initialize('127.0.0.1:{free_port()}', num_processes=1, process_id=0)\n"
        "print(jax.process_count(), hn.tensor([1.0, 2.0]).numpy().sum())"
    )
    assert run_job([[sys.executable, "-c", code]], 1, tmp_path, timeout=120)[0].split() == ["1", "3.0"]


def test_initialize_after_the_devices_are_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    code = f"import highnn as hn\nhn.tensor(1.0)\nhn.distribution.initialize('127.0.0.1:{free_port()}', 1, 0)"
    with pytest.raises(AssertionError, match=r"RuntimeError: hn.distribution.initialize: call it before creating"):
        run_job([[sys.executable, "-c", code]], 1, tmp_path, timeout=120)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_data_parallel_fit_equals_one_device(tmp_path: Path, dtype: str) -> None:
    expected = fit(tmp_path, dtype, "none")
    actual = fit(tmp_path, dtype, "data")
    assert_same_training(expected, actual, TOLERANCE[dtype])
    assert actual["all_reduces"] == 1  # XLA combines the gradient sums into one
    assert actual["batch_spec"] == ["batch", "None"]  # a 32-row batch arrives as 8-row shards
    assert all(set(spec) <= {"None"} for spec in actual["variable_specs"].values())  # every variable replicated


def test_model_parallel_kernel_over_a_2x2_mesh_equals_one_device(tmp_path: Path) -> None:
    expected = fit(tmp_path, "float64", "none")
    actual = fit(tmp_path, "float64", "model")
    assert_same_training(expected, actual, TOLERANCE["float64"])
    specs = actual["variable_specs"]
    assert specs["wide/kernel"] == ["None", "model"]
    assert specs["adam/wide_kernel_momentum"] == specs["adam/wide_kernel_velocity"] == ["None", "model"]  # slots
    assert specs["head/kernel"] == ["None", "None"]


@pytest.mark.slow
def test_two_processes_of_two_devices_equal_one_device(tmp_path: Path) -> None:
    expected = fit(tmp_path, "float64", "none", devices=1)
    port = str(free_port())
    commands = [[sys.executable, str(SCRIPT), "float64", "processes", str(i), port] for i in range(2)]
    for output in run_job(commands, 2, tmp_path, timeout=300):
        actual = json.loads(output.splitlines()[-1])
        assert actual["process_count"] == 2
        assert_same_training(expected, actual, TOLERANCE["float64"])


def test_a_process_that_dies_ends_the_job_with_its_error(tmp_path: Path) -> None:
    port = str(free_port())
    commands = [[sys.executable, str(SCRIPT), "float64", "processes", str(i), port] for i in (0, 7)]
    start = time.monotonic()
    with pytest.raises(AssertionError, match=r"process 1 exited with 1: ValueError: initialize: `process_id` must"):
        run_job(commands, 2, tmp_path, timeout=120)
    assert time.monotonic() - start < 60  # process 0, left waiting for its peer, was killed


def test_data_parallel_example_matches_one_device_on_four_devices(tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / "examples" / "distributed_data_parallel.py"
    out = run_job([[sys.executable, str(example)]], 4, tmp_path)[0]
    assert "backend: jax  devices: 4 ['cpu:0', 'cpu:1', 'cpu:2', 'cpu:3']" in out
    match = re.search(r"largest weight difference from one device: ([\d.e+-]+)", out)
    assert match and float(match.group(1)) < 1e-5, out


def test_a_job_past_its_deadline_reports_where_each_process_is_stuck(tmp_path: Path) -> None:
    code = "import time\ndef wait_for_a_peer():\n    time.sleep(60)\nwait_for_a_peer()"
    with pytest.raises(AssertionError, match=r"(?s)within 2 s\nprocess 0, stuck:.*line 3 in wait_for_a_peer"):
        run_job([[sys.executable, "-c", code]], 1, tmp_path, timeout=2)
