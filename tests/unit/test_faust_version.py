"""faust_fixes refuses any faust-streaming but the release its patches were written for."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from streams.kafka import faust_fixes


def test_the_release_the_fixes_were_written_for_passes():
    faust_fixes.check_faust_version(faust_fixes.FAUST_VERSION)


@pytest.mark.parametrize("installed", ["0.15.4", "0.15.2", "0.16.0", "0.11.3", "0.15.3.post1", "0.15.3+local"])
def test_any_other_release_is_refused_and_the_message_says_which_and_why(installed):
    with pytest.raises(faust_fixes.FaustVersionError) as refused:
        faust_fixes.check_faust_version(installed)
    message = str(refused.value)
    assert f"faust-streaming {installed} is installed" in message
    assert f"written for faust-streaming {faust_fixes.FAUST_VERSION}" in message
    assert "_acked" in message and "_send_pending" in message
    assert "lose input" in message


def test_pyproject_pins_that_release():
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert f"faust-streaming=={faust_fixes.FAUST_VERSION}" in pyproject["project"]["dependencies"]


def test_the_installed_release_is_the_one_pinned():
    # `make install` builds the venv from requirements-test.lock.
    assert metadata.version("faust-streaming") == faust_fixes.FAUST_VERSION


def test_install_stops_the_process_on_another_release(monkeypatch):
    monkeypatch.setattr(faust_fixes.metadata, "version", lambda name: "0.16.0")
    with pytest.raises(SystemExit) as stopped:
        faust_fixes.install()
    assert "faust-streaming 0.16.0 is installed" in str(stopped.value)
