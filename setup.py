"""Package discovery: every package under ``highnn/``, plus ``backends/`` installed as ``highnn.backends``.

The metadata lives in pyproject.toml; only the folder mapping needs code, so that
a new subpackage can never silently drop out of the wheel.
"""

from setuptools import find_packages, setup

SUBPACKAGES = [f"highnn.{name}" for name in find_packages("highnn")]
BACKEND_PACKAGES = ["highnn.backends", *(f"highnn.backends.{name}" for name in find_packages("backends"))]

setup(
    packages=["highnn", *SUBPACKAGES, *BACKEND_PACKAGES],
    package_dir={"highnn": "highnn", "highnn.backends": "backends"},
    package_data={"highnn": ["py.typed"]},
)
