"""Callbacks: hooks into ``fit``, ``evaluate`` and ``predict`` (Keras 3 names and hooks)."""

from highnn.callbacks.base import Callback, CallbackList, History, ProgbarLogger

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger"]
