"""Local table state (RocksDB under the data directory) is trusted only after a clean stop.

A worker killed mid-batch may have written rows to RocksDB whose changelog
records never reached the broker. Reprocessing the uncommitted input then
finds those rows already applied and writes nothing, so the changelog, which
any other worker restores from, would lack them for good. After an unclean
stop the worker therefore discards its table files and restores them from the
changelogs, as it would after a takeover.

The marker file also holds an exclusive lock while the worker runs, so a
second worker on the same data directory stops instead of sharing it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from pathlib import Path
from typing import TextIO

log = logging.getLogger("lapsewatch")

MARKER = "worker.state"
RUNNING, STOPPED = "running", "stopped"


class DataDirInUse(RuntimeError):
    pass


class LocalState:
    def __init__(self, data_dir: Path, table_dir: Path):
        self.marker = Path(data_dir) / MARKER
        self.table_dir = Path(table_dir)
        self._file: TextIO | None = None

    def claim(self) -> bool:
        """Locks the data directory; returns True if the tables were discarded after an unclean stop."""
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.marker, "a+")  # noqa: SIM115 - held open, and locked, until the process exits
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise DataDirInUse(
                f"LAPSEWATCH_DATA_DIR: {self.marker.parent} is in use by another running worker; "
                "give each worker its own data directory"
            ) from None
        self._file = handle
        handle.seek(0)
        unclean = handle.read().strip() == RUNNING
        discarded = unclean and self.table_dir.exists()
        if discarded:
            shutil.rmtree(self.table_dir)
        _write(handle, RUNNING)
        return discarded

    def release(self) -> None:
        """Marks a clean stop; the lock goes with the process."""
        if self._file is not None and not self._file.closed:
            _write(self._file, STOPPED)


def _write(handle: TextIO, state: str) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(state + "\n")
    handle.flush()
    os.fsync(handle.fileno())
