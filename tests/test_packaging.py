"""The wheel holds every module of the source tree, and each one imports from the installed wheel alone."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from highnn.backends import REGISTRY

ROOT = Path(__file__).resolve().parent.parent


def source_modules() -> set[str]:
    """Every module the source tree defines, named as installed (``backends/`` is ``highnn.backends``)."""
    modules = set()
    for folder, package in ((ROOT / "highnn", "highnn"), (ROOT / "backends", "highnn.backends")):
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            modules.add(".".join((package, *parts)))
    return modules


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (path,) = out.glob("highnn-*.whl")
    return path


@pytest.mark.slow
def test_the_wheel_holds_every_module_and_the_type_marker(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    in_wheel = {
        name.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for name in names if name.endswith(".py")
    }
    assert source_modules() - in_wheel == set()
    assert "highnn/py.typed" in names


@pytest.mark.slow
def test_every_module_imports_from_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    script = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(target)!r})\n"
        "for name in sys.argv[1:]:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(target)!r}), (name, module.__file__)\n"
        "print('imported', len(sys.argv) - 1)\n"
    )
    missing_libraries = {
        module for module, _, package, _ in REGISTRY.values() if importlib.util.find_spec(package) is None
    }
    modules = sorted(source_modules() - {"highnn.__main__"} - missing_libraries)
    result = subprocess.run(
        [sys.executable, "-I", "-c", script, *modules], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == f"imported {len(modules)}"


def test_the_version_has_one_source() -> None:
    import highnn

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'attr = "highnn.version.__version__"' in pyproject
    assert highnn.__version__.count(".") == 2
