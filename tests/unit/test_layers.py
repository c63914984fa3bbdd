"""The layers of pyproject.toml's [tool.importlinter] hold: no import in streams/ runs back up the stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_no_import_runs_back_up_the_stack():
    if not LINT_IMPORTS.exists():
        pytest.skip(
            f"import-linter is not installed in this environment ({LINT_IMPORTS}): "
            "it is in the test extra, so `make lock` then `make install` bring it"
        )
    # --no-cache: nothing written into the work tree.
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        pytest.fail(
            f"an import runs back up the stack (see [tool.importlinter] in pyproject.toml):\n"
            f"{done.stdout}{done.stderr}",
            pytrace=False,
        )
