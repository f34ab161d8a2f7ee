"""Run mypy over highnn as it is installed: ``highnn/`` with ``backends/`` as ``highnn.backends``.

The build maps the top-level ``backends/`` folder to the ``highnn.backends``
package, which mypy cannot see through an editable install. This lays out a
tree of symbolic links in that shape under ``build/typecheck`` (made anew each
run, so new modules are always checked), runs mypy there with the project's
configuration, and reports paths as they are in the repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "typecheck"


def main() -> int:
    shutil.rmtree(TREE, ignore_errors=True)
    package = TREE / "highnn"
    package.mkdir(parents=True)
    for entry in (ROOT / "highnn").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    (package / "backends").symlink_to(ROOT / "backends")
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "-p", "highnn"]
    result = subprocess.run(command, cwd=TREE, capture_output=True, text=True)
    output = (result.stdout + result.stderr).replace("highnn/backends/", "backends/")
    print(output, end="")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
