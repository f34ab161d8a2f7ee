"""Checkpoint callbacks: ``ModelCheckpoint`` saves the model as it trains; ``BackupAndRestore`` resumes a run."""

from __future__ import annotations

import math
import operator
import os
from typing import Any

from highnn import random, saving
from highnn.callbacks.base import Callback, Logs
from highnn.callbacks.monitoring import MonitorCallback
from highnn.checks import check_number, fail, is_integer
from highnn.distribution import local_view

_INT64_END = 2**63  # epochs and seeds are stored as int64


def _check_save_freq(owner: str, save_freq: Any) -> str | int:
    if save_freq != "epoch" and not (is_integer(save_freq) and save_freq > 0):
        fail(owner, "save_freq", "'epoch' or a positive integer (a number of batches)", save_freq)
    return save_freq


class _BatchCounter:
    """Counts training batches across epochs and says when ``save_freq`` of them have passed (Keras's rule)."""

    def __init__(self, save_freq: int | str) -> None:
        self.every = save_freq if isinstance(save_freq, int) else None
        self.since_saving = 0
        self.last_batch = 0

    def due(self, batch: int) -> bool:
        if self.every is None:
            return False
        self.since_saving += batch + 1 if batch <= self.last_batch else batch - self.last_batch
        self.last_batch = batch
        if self.since_saving >= self.every:
            self.since_saving = 0
            return True
        return False


class ModelCheckpoint(MonitorCallback):
    """Save the model (or its weights) during ``fit``, every epoch or every ``save_freq`` batches.

    ``filepath`` may name the epoch (counted from 1), the batch and any log:
    ``"ckpt/{epoch:02d}-{val_loss:.2f}.highnn"``. It must end in ``.highnn``,
    or in ``.weights.safetensors`` with ``save_weights_only=True``. With
    ``save_best_only=True`` a file is written only when ``monitor`` improves
    on the best value so far (or on ``initial_value_threshold``).

    >>> checkpoint = hn.callbacks.ModelCheckpoint("best.highnn", monitor="val_loss", save_best_only=True)
    >>> model.fit(x, y, validation_split=0.2, epochs=10, callbacks=[checkpoint])
    >>> best = hn.models.load_model("best.highnn")
    """

    action = "Checkpointing"

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__(monitor, mode, min_delta=0.0)
        if not isinstance(filepath, (str, os.PathLike)):
            fail("ModelCheckpoint", "filepath", "a str or os.PathLike", filepath, TypeError)
        self.filepath = os.fspath(filepath)
        suffix = saving.WEIGHTS_SUFFIX if save_weights_only else saving.MODEL_SUFFIX
        if not self.filepath.endswith(suffix):
            reason = (
                "with `save_weights_only=True`"
                if save_weights_only
                else "(highnn's model format; use save_weights_only=True for `.weights.safetensors`)"
            )
            raise ValueError(
                f"ModelCheckpoint: `filepath` must end in `{suffix}` {reason}, received {self.filepath!r}."
            )
        self.verbose, self.save_freq = verbose, _check_save_freq("ModelCheckpoint", save_freq)
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        worst = math.inf if self.monitor_op is operator.lt else -math.inf
        self.best = (
            worst
            if initial_value_threshold is None
            else check_number("ModelCheckpoint", "initial_value_threshold", initial_value_threshold)
        )
        self._batches = _BatchCounter(save_freq)
        self._current_epoch = 0

    def wants(self, hook: str) -> bool:
        if hook == "on_train_batch_end":
            return self.save_freq != "epoch"  # batch logs cost a device sync; only ask for them when saving by batch
        return super().wants(hook)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._batches.due(batch):
            self._save(self._current_epoch, batch, logs or {})

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _save(self, epoch: int, batch: int | None, logs: Logs) -> None:
        filepath = self._format_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        directory = os.path.dirname(filepath)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)

    def _format_path(self, epoch: int, batch: int | None, logs: Logs) -> str:
        fields: dict[str, Any] = {**logs, "epoch": epoch + 1}
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError) as error:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". '
                f"Reason: no field {error.args[0]}; available fields: {', '.join(sorted(fields))}."
            ) from error

    def _should_save(self, epoch: int, logs: Logs, filepath: str) -> bool:
        if not self.save_best_only:
            self._say(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = self.get_monitor_value(logs)
        if current is None:
            return True
        if self._is_improvement(current, self.best):
            self._say(
                f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                f"saving model to {filepath}"
            )
            self.best = current
            return True
        self._say(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
        return False

    def _say(self, message: str) -> None:
        if self.verbose > 0:
            print(message)


class BackupAndRestore(Callback):
    """Back up the training state every epoch, and resume from the backup after an interruption.

    At each epoch end (or every ``save_freq`` batches) the model, its
    optimizer state, the epoch reached and highnn's random state (so
    shuffling continues identically) are written atomically to
    ``backup_dir/backup.highnn``. When ``fit`` starts and a backup exists, the
    state is restored and training continues with the next epoch, so an
    interrupted and resumed run ends with the same weights as an uninterrupted
    one (random layers' seeds are backed up too). The backup is deleted when training completes
    (``delete_checkpoint=True``). With an integer ``save_freq`` a resumed run
    restarts the interrupted epoch from the weights of the last backup, as in
    Keras, which is not bit-identical to an uninterrupted run.

    >>> backup = hn.callbacks.BackupAndRestore("/tmp/backup")
    >>> model.fit(x, y, epochs=10, callbacks=[backup])  # run again after a crash: it resumes
    """

    FILENAME = "backup.highnn"

    def __init__(
        self, backup_dir: str | os.PathLike[str], save_freq: str | int = "epoch", delete_checkpoint: bool = True
    ) -> None:
        super().__init__()
        if not isinstance(backup_dir, (str, os.PathLike)) or not os.fspath(backup_dir):
            fail("BackupAndRestore", "backup_dir", "a non-empty path", backup_dir)
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = _check_save_freq("BackupAndRestore", save_freq)
        self.delete_checkpoint = delete_checkpoint
        self._batches = _BatchCounter(save_freq)
        self._current_epoch = 0
        self._epoch_random_state: dict[str, Any] = {}

    @property
    def backup_path(self) -> str:
        return os.path.join(self.backup_dir, self.FILENAME)

    def wants(self, hook: str) -> bool:
        if hook == "on_train_batch_end":
            return self.save_freq != "epoch"
        return super().wants(hook)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if not os.path.exists(self.backup_path):
            return
        state = saving.restore_training_state(self.model, self.backup_path, check=self._check_state)
        random.generator().bit_generator.state = state["random_state"]
        for variable, seed in zip(self._seed_variables(), state["seed_states"]):
            variable.assign(seed)
        self.model._initial_epoch_override = state["epoch"]

    def _seed_variables(self) -> list[Any]:
        """The model's state outside its weights (random layers' seeds), backed up so dropout resumes identically."""
        weights = {id(w) for w in self.model.weights}
        return [v for v in self.model.variables if id(v) not in weights]

    def _check_state(self, state: dict[str, Any]) -> None:
        """Refuse a training state whose epoch or random state is malformed, before anything is restored."""
        epoch: Any = state.get("epoch")
        random_state = state.get("random_state")
        if not is_integer(epoch) or not 0 <= epoch < _INT64_END or not isinstance(random_state, dict):
            raise saving.SavedFileError(
                f"{self.backup_path!r}: the training state needs a non-negative integer epoch (below 2**63) "
                "and a random_state object."
            )
        probe = type(random.generator().bit_generator)()  # a scratch generator of the same kind takes the state first
        try:
            probe.state = random_state
        except (TypeError, ValueError, KeyError, OverflowError) as error:
            raise saving.SavedFileError(
                f"{self.backup_path!r}: the saved random state cannot be restored: {error}."
            ) from error
        seeds, expected = state.get("seed_states"), len(self._seed_variables())
        if (
            not isinstance(seeds, list)
            or len(seeds) != expected
            or not all(type(seed) is int and -_INT64_END <= seed < _INT64_END for seed in seeds)
        ):
            raise saving.SavedFileError(
                f"{self.backup_path!r}: the training state must hold {expected} integer seed_states "
                "in [-2**63, 2**63) (one per random layer)."
            )

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._current_epoch = epoch
        self._epoch_random_state = dict(random.generator().bit_generator.state)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._batches.due(batch):
            self._back_up(self._current_epoch, self._epoch_random_state)  # resumes by redoing this epoch's batches

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._current_epoch = epoch + 1
        if self.save_freq == "epoch":
            self._back_up(epoch + 1, dict(random.generator().bit_generator.state))

    def on_train_end(self, logs: Logs | None = None) -> None:
        local_view.on_chief(self._delete)

    def _delete(self) -> None:
        if self.delete_checkpoint and os.path.exists(self.backup_path):
            os.remove(self.backup_path)
            if not os.listdir(self.backup_dir):
                os.rmdir(self.backup_dir)

    def _back_up(self, epoch: int, random_state: dict[str, Any]) -> None:
        seeds = [int(v.item()) for v in self._seed_variables()]  # by position, as weights are matched
        state = {"epoch": epoch, "random_state": random_state, "seed_states": seeds}
        local_view.on_chief(lambda: self._write(state))  # under torch DataParallel, process 0 writes

    def _write(self, training_state: dict[str, Any]) -> None:
        os.makedirs(self.backup_dir, exist_ok=True)
        saving.save_model(self.model, self.backup_path, training_state=training_state)
