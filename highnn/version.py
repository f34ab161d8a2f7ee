"""highnn's version: the one source that the package metadata and saved files read."""

__version__ = "0.1.0"
