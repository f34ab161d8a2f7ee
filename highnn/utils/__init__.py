"""Utilities with Keras's names."""

from highnn.plotting import plot_history
from highnn.random import set_random_seed
from highnn.utils.model_plot import model_to_dot, plot_model

__all__ = ["model_to_dot", "plot_history", "plot_model", "set_random_seed"]
