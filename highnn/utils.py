"""Utilities with Keras's names."""

from highnn.plotting import plot_history
from highnn.random import set_random_seed

__all__ = ["plot_history", "set_random_seed"]
