"""ModelCheckpoint and BackupAndRestore in real ``fit`` runs (tiny Dense models, float64).

Which epoch or batch must have been saved is worked out here from the run's own history and a recording
callback, then compared with what the files hold.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import highnn as hn
from highnn.callbacks import BackupAndRestore, Callback, ModelCheckpoint
from highnn.saving import SavedFileError

pytestmark = pytest.mark.usefixtures("float64")


def make_model(seed: int = 0, optimizer: str = "sgd", run_eagerly: bool = False, dropout: float = 0.0) -> hn.Sequential:
    hn.utils.set_random_seed(seed)
    noise = [hn.layers.Dropout(dropout)] if dropout else []
    model = hn.Sequential([hn.Input(shape=(3,)), hn.layers.Dense(4, activation="tanh"), *noise, hn.layers.Dense(1)])
    chosen = hn.optimizers.SGD(0.05, momentum=0.9) if optimizer == "sgd" else hn.optimizers.Adam(0.05)
    model.compile(chosen, "mse", run_eagerly=run_eagerly)
    return model


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 3))
    return x, x @ np.array([[1.0], [-2.0], [0.5]]) + 0.1 * rng.normal(size=(24, 1))


class Recorder(Callback):
    """Keeps the weights at every epoch end and at every batch end."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[list[np.ndarray]] = []
        self.batches: list[tuple[int, int, list[np.ndarray]]] = []
        self.epoch = 0
        self.at_train_begin: list[np.ndarray] = []

    def on_train_begin(self, logs: Any = None) -> None:
        self.at_train_begin = self.model.get_weights()

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.batches.append((self.epoch, batch, self.model.get_weights()))

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.epochs.append(self.model.get_weights())


class Interrupt(Callback):
    """Raises at the end of one epoch (or one batch of it), as a crash would."""

    def __init__(self, epoch: int, batch: int | None = None) -> None:
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.current = epoch

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if self.current == self.epoch and batch == self.batch:
            raise RuntimeError(f"interrupted at epoch {self.epoch}, batch {batch}")

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if epoch == self.epoch and self.batch is None:
            raise RuntimeError(f"interrupted at the end of epoch {epoch}")


def assert_weights_equal(actual: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_array_equal(a, e)


def best_epochs(values: list[float], lower_is_better: bool, start: float) -> list[int]:
    """The epochs whose value strictly beats every earlier one (and ``start``): where a best-only checkpoint saves."""
    improved, best = [], start
    for epoch, value in enumerate(values):
        if (value < best) if lower_is_better else (value > best):
            improved.append(epoch)
            best = value
    return improved


# ----------------------------------------------------------------- ModelCheckpoint
def test_model_checkpoint_saves_every_epoch_under_formatted_names(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    recorder = Recorder()
    pattern = str(tmp_path / "ckpt" / "model-{epoch:02d}-{loss:.4f}.highnn")  # the folder is created
    history = make_model().fit(
        *data, epochs=3, batch_size=8, verbose=0, callbacks=[ModelCheckpoint(pattern, monitor="loss"), recorder]
    )
    expected = [
        tmp_path / "ckpt" / f"model-{epoch + 1:02d}-{loss:.4f}.highnn"
        for epoch, loss in enumerate(history.history["loss"])
    ]
    assert sorted(os.listdir(tmp_path / "ckpt")) == sorted(p.name for p in expected)
    for path, weights in zip(expected, recorder.epochs, strict=True):
        assert_weights_equal(hn.models.load_model(path).get_weights(), weights)


def test_model_checkpoint_compiled_and_eager_runs_save_the_same_weights(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    for run_eagerly in (False, True):
        checkpoint = ModelCheckpoint(str(tmp_path / f"eager_{run_eagerly}.highnn"), monitor="loss")
        make_model(run_eagerly=run_eagerly).fit(
            *data, epochs=2, batch_size=8, shuffle=False, verbose=0, callbacks=[checkpoint]
        )
    compiled, eager = (hn.models.load_model(tmp_path / f"eager_{flag}.highnn").get_weights() for flag in (False, True))
    for a, b in zip(compiled, eager, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("mode", "lower_is_better"), [("min", True), ("max", False), ("auto", True)])
def test_model_checkpoint_save_best_only_keeps_the_best_epoch(
    data: tuple[np.ndarray, np.ndarray],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mode: str,
    lower_is_better: bool,
) -> None:
    x, y = data
    recorder = Recorder()
    checkpoint = ModelCheckpoint(str(tmp_path / "best.highnn"), save_best_only=True, mode=mode, verbose=1)
    history = make_model().fit(
        x[:16],
        y[:16],
        validation_data=(x[16:], y[16:]),
        epochs=6,
        batch_size=4,
        verbose=0,
        callbacks=[recorder, checkpoint],
    )
    improved = best_epochs(history.history["val_loss"], lower_is_better, math.inf if lower_is_better else -math.inf)
    assert_weights_equal(hn.models.load_model(tmp_path / "best.highnn").get_weights(), recorder.epochs[improved[-1]])
    output = capsys.readouterr().out
    assert output.count("val_loss improved from") == len(improved)
    assert output.count("val_loss did not improve") == 6 - len(improved)


def test_model_checkpoint_initial_value_threshold(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unreachable = ModelCheckpoint(
        str(tmp_path / "never.highnn"), monitor="loss", save_best_only=True, initial_value_threshold=0.0, verbose=1
    )
    make_model().fit(*data, epochs=2, verbose=0, callbacks=[unreachable])
    assert not (tmp_path / "never.highnn").exists()
    assert capsys.readouterr().out.count("loss did not improve from 0.00000") == 2

    recorder = Recorder()
    easy = ModelCheckpoint(
        str(tmp_path / "first.highnn"), monitor="loss", mode="max", save_best_only=True, initial_value_threshold=-1.0
    )
    history = make_model().fit(*data, epochs=3, verbose=0, callbacks=[recorder, easy])
    improved = best_epochs(history.history["loss"], lower_is_better=False, start=-1.0)
    assert_weights_equal(hn.models.load_model(tmp_path / "first.highnn").get_weights(), recorder.epochs[improved[-1]])


def test_model_checkpoint_save_weights_only(data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    recorder = Recorder()
    checkpoint = ModelCheckpoint(str(tmp_path / "w-{epoch}.weights.safetensors"), save_weights_only=True)
    make_model().fit(*data, epochs=2, verbose=0, callbacks=[checkpoint, recorder])
    for epoch, weights in enumerate(recorder.epochs):
        fresh = make_model(seed=7)
        fresh.load_weights(tmp_path / f"w-{epoch + 1}.weights.safetensors")
        assert_weights_equal(fresh.get_weights(), weights)


def test_model_checkpoint_integer_save_freq_counts_batches_across_epochs(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    recorder = Recorder()
    checkpoint = ModelCheckpoint(str(tmp_path / "b-{epoch}-{batch}.highnn"), monitor="loss", save_freq=2)
    make_model().fit(*data, epochs=2, batch_size=8, verbose=0, callbacks=[recorder, checkpoint])  # 3 batches an epoch
    saved = [
        (epoch, batch, weights)
        for index, (epoch, batch, weights) in enumerate(recorder.batches)
        if (index + 1) % 2 == 0
    ]
    assert sorted(os.listdir(tmp_path)) == sorted(f"b-{epoch + 1}-{batch + 1}.highnn" for epoch, batch, _ in saved)
    for epoch, batch, weights in saved:
        assert_weights_equal(
            hn.models.load_model(tmp_path / f"b-{epoch + 1}-{batch + 1}.highnn").get_weights(), weights
        )
    assert not ModelCheckpoint(str(tmp_path / "m.highnn")).wants("on_train_batch_end")
    assert checkpoint.wants("on_train_batch_end")


def test_model_checkpoint_without_the_monitored_value_warns_and_saves(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    checkpoint = ModelCheckpoint(str(tmp_path / "m.highnn"), save_best_only=True)  # val_loss, but no validation data
    with pytest.warns(UserWarning, match="Checkpointing conditioned on metric `val_loss` which is not available"):
        make_model().fit(*data, epochs=1, verbose=0, callbacks=[checkpoint])
    assert (tmp_path / "m.highnn").exists()


def test_model_checkpoint_filepath_needing_a_missing_log(data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(str(tmp_path / "{val_accuracy:.2f}.highnn"))
    with pytest.raises(
        KeyError, match=r"Failed to format this callback filepath.*no field val_accuracy; available fields: epoch, loss"
    ):
        make_model().fit(*data, epochs=1, verbose=0, callbacks=[checkpoint])


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"filepath": "model.keras"}, ValueError, r"`filepath` must end in `\.highnn`.*received 'model\.keras'"),
        (
            {"filepath": "model.highnn", "save_weights_only": True},
            ValueError,
            r"must end in `\.weights\.safetensors` with `save_weights_only=True`",
        ),
        ({"filepath": 3}, TypeError, "`filepath` must be a str or os.PathLike, received 3"),
        (
            {"filepath": "m.highnn", "save_freq": "batch"},
            ValueError,
            "`save_freq` must be 'epoch' or a positive integer.*received 'batch'",
        ),
        ({"filepath": "m.highnn", "save_freq": 0}, ValueError, "`save_freq` must be 'epoch' or a positive integer"),
        ({"filepath": "m.highnn", "save_freq": True}, ValueError, "`save_freq` must be 'epoch' or a positive integer"),
        ({"filepath": "m.highnn", "mode": "best"}, ValueError, "`mode` must be one of"),
        (
            {"filepath": "m.highnn", "initial_value_threshold": "low"},
            TypeError,
            "ModelCheckpoint: `initial_value_threshold` must be a finite number, received 'low'",
        ),
    ],
)
def test_model_checkpoint_argument_errors(arguments: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        ModelCheckpoint(**arguments)


# ---------------------------------------------------------------- BackupAndRestore
def train(model: hn.Sequential, data: tuple[np.ndarray, np.ndarray], callbacks: list[Callback]) -> hn.callbacks.History:
    return model.fit(*data, epochs=6, batch_size=8, shuffle=True, verbose=0, callbacks=callbacks)


@pytest.mark.parametrize(("optimizer", "run_eagerly"), [("sgd", False), ("adam", False), ("adam", True)])
def test_an_interrupted_run_resumes_to_the_same_weights(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path, optimizer: str, run_eagerly: bool
) -> None:
    uninterrupted = make_model(optimizer=optimizer, run_eagerly=run_eagerly)
    train(uninterrupted, data, [])
    expected = uninterrupted.get_weights()

    backup = BackupAndRestore(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="interrupted at the end of epoch 2"):
        train(make_model(optimizer=optimizer, run_eagerly=run_eagerly), data, [backup, Interrupt(epoch=2)])

    # A new process: other initial weights, another seed; the backup restores weights, optimizer and shuffling.
    hn.utils.set_random_seed(999)
    resumed = make_model(seed=123, optimizer=optimizer, run_eagerly=run_eagerly)
    history = train(resumed, data, [backup])
    assert history.epoch == [3, 4, 5]
    assert_weights_equal(resumed.get_weights(), expected)
    assert not (tmp_path / "backup").exists()  # deleted after the successful run

    reshuffled = make_model(optimizer=optimizer, run_eagerly=run_eagerly)
    hn.utils.set_random_seed(5)
    train(reshuffled, data, [])
    assert not all(
        np.allclose(a, b) for a, b in zip(reshuffled.get_weights(), expected, strict=True)
    )  # shuffling matters


def test_a_run_with_dropout_resumes_to_the_same_weights(data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    uninterrupted = make_model(optimizer="adam", dropout=0.3)
    train(uninterrupted, data, [])
    backup = BackupAndRestore(tmp_path / "backup")
    with pytest.raises(RuntimeError):
        train(make_model(optimizer="adam", dropout=0.3), data, [backup, Interrupt(epoch=2)])
    resumed = make_model(
        seed=42, optimizer="adam", dropout=0.3
    )  # another seed: dropout's seed state must come from the backup
    train(resumed, data, [backup])
    assert_weights_equal(resumed.get_weights(), uninterrupted.get_weights())


def test_resuming_on_every_backend(backend64: str, data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    uninterrupted = make_model(optimizer="adam")
    train(uninterrupted, data, [])
    backup = BackupAndRestore(tmp_path / "backup")
    with pytest.raises(RuntimeError):
        train(make_model(optimizer="adam"), data, [backup, Interrupt(epoch=1)])
    resumed = make_model(seed=1, optimizer="adam")
    train(resumed, data, [backup])
    for a, b in zip(resumed.get_weights(), uninterrupted.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_the_backup_holds_the_state_after_the_last_finished_epoch(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    recorder = Recorder()
    model = make_model(optimizer="adam")
    with pytest.raises(RuntimeError):
        train(model, data, [BackupAndRestore(tmp_path / "backup"), recorder, Interrupt(epoch=2)])
    path = tmp_path / "backup" / "backup.highnn"
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == [
            "config.json",
            "model.weights.safetensors",
            "optimizer.safetensors",
            "training_state.json",
        ]
        state = json.loads(archive.read("training_state.json"))
    assert state["epoch"] == 3
    assert state["random_state"] == hn.random.generator().bit_generator.state  # nothing drew since epoch 2 ended
    restored = hn.models.load_model(path)  # a backup is also a loadable model
    assert_weights_equal(restored.get_weights(), recorder.epochs[2])
    assert int(restored.optimizer.iterations.numpy()) == 3 * 3


def test_integer_save_freq_resumes_the_interrupted_epoch_from_the_last_backup(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    first = Recorder()
    backup = BackupAndRestore(tmp_path / "backup", save_freq=2)
    with pytest.raises(RuntimeError, match="epoch 1, batch 1"):
        train(make_model(), data, [backup, first, Interrupt(epoch=1, batch=1)])
    # 3 batches an epoch: backups after global batches 2 and 4; the 4th is epoch 1, batch 0.
    last_backup = [weights for index, (_, _, weights) in enumerate(first.batches) if (index + 1) % 2 == 0][-1]
    second = Recorder()
    history = train(make_model(seed=4), data, [backup, second])
    assert_weights_equal(second.at_train_begin, last_backup)
    assert history.epoch == [1, 2, 3, 4, 5]


def test_delete_checkpoint_false_keeps_the_backup_and_other_files_stay(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    folder = tmp_path / "backup"
    make_model().fit(*data, epochs=2, verbose=0, callbacks=[BackupAndRestore(folder, delete_checkpoint=False)])
    assert (folder / "backup.highnn").exists()
    (folder / "notes.txt").write_text("mine")
    hn.utils.set_random_seed(0)
    make_model().fit(*data, epochs=2, verbose=0, callbacks=[BackupAndRestore(folder)])
    assert os.listdir(folder) == ["notes.txt"]


def test_a_corrupt_backup_stops_fit_with_a_clear_error(data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    folder = tmp_path / "backup"
    folder.mkdir()
    (folder / "backup.highnn").write_bytes(b"garbage")
    model = make_model()
    before = model.get_weights()
    with pytest.raises(SavedFileError, match="not a zip archive"):
        model.fit(*data, epochs=2, verbose=0, callbacks=[BackupAndRestore(folder)])
    assert_weights_equal(model.get_weights(), before)


def test_a_backup_with_a_hostile_random_state_is_refused(data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    folder = tmp_path / "backup"
    folder.mkdir()
    hn.saving.save_model(
        make_model(seed=1),
        folder / "backup.highnn",
        training_state={"epoch": 1, "random_state": {"bit_generator": "os.system"}},
    )
    model = make_model()
    before, random_before = model.get_weights(), hn.random.generator().bit_generator.state
    with pytest.raises(SavedFileError, match="the saved random state cannot be restored"):
        model.fit(*data, epochs=2, verbose=0, callbacks=[BackupAndRestore(folder)])
    assert_weights_equal(model.get_weights(), before)  # refused before anything was restored
    assert hn.random.generator().bit_generator.state == random_before
    hn.saving.save_model(model, folder / "backup.highnn", training_state={"epoch": -1, "random_state": {}})
    with pytest.raises(SavedFileError, match="needs a non-negative integer epoch"):
        model.fit(*data, epochs=2, verbose=0, callbacks=[BackupAndRestore(folder)])
    model.save(folder / "backup.highnn")
    with pytest.raises(SavedFileError, match="it is a saved model, not a training backup"):
        model.fit(*data, epochs=2, verbose=0, callbacks=[BackupAndRestore(folder)])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"backup_dir": ""}, "`backup_dir` must be a non-empty path, received ''"),
        ({"backup_dir": None}, "`backup_dir` must be a non-empty path, received None"),
        ({"backup_dir": "b", "save_freq": "batch"}, "`save_freq` must be 'epoch' or a positive integer"),
    ],
)
def test_backup_and_restore_argument_errors(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BackupAndRestore(**arguments)


@pytest.mark.parametrize(
    ("training_state", "message"),
    [
        ({"epoch": 2**70, "seed_states": []}, "needs a non-negative integer epoch"),
        ({"epoch": 1, "seed_states": [2**64]}, r"integer seed_states in \[-2\*\*63, 2\*\*63\)"),
        ({"epoch": 1, "seed_states": [], "uinteger": 2**80}, "the saved random state cannot be restored"),
        ({"epoch": 1, "seed_states": [], "inc": 2**200}, "the saved random state cannot be restored"),
    ],
)
def test_oversized_integers_in_a_backup_raise_saved_file_error(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path, training_state: dict[str, Any], message: str
) -> None:
    random_state = dict(hn.random.generator().bit_generator.state)
    if "uinteger" in training_state:
        random_state["uinteger"] = training_state.pop("uinteger")
    if "inc" in training_state:
        random_state["state"] = {**random_state["state"], "inc": training_state.pop("inc")}
    folder = tmp_path / "backup"
    folder.mkdir()
    model = make_model()
    hn.saving.save_model(
        model, folder / "backup.highnn", training_state={**training_state, "random_state": random_state}
    )
    before = model.get_weights()
    with pytest.raises(SavedFileError, match=r"backup\.highnn'.*" + message):
        model.fit(*data, epochs=2, verbose=0, callbacks=[BackupAndRestore(folder)])
    assert_weights_equal(model.get_weights(), before)
