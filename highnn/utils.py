"""Utilities with Keras's names."""

from highnn.random import set_random_seed

__all__ = ["set_random_seed"]
