"""Callbacks: hooks into ``fit``, ``evaluate`` and ``predict`` (Keras 3 names and hooks)."""

from highnn.callbacks.base import Callback, CallbackList, History, ProgbarLogger
from highnn.callbacks.checkpointing import BackupAndRestore, ModelCheckpoint
from highnn.callbacks.monitoring import (
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ReduceLROnPlateau,
    TerminateOnNaN,
)

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger"]
__all__ += [
    "CSVLogger",
    "EarlyStopping",
    "LambdaCallback",
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]
__all__ += ["BackupAndRestore", "ModelCheckpoint"]
