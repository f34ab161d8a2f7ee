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
from highnn.callbacks.tensorboard import TensorBoard

__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TensorBoard",
    "TerminateOnNaN",
]
