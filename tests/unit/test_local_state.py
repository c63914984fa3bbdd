"""Local table state survives a clean stop and is discarded after an unclean one."""

from __future__ import annotations

import pytest

from streams.kafka.local_state import DataDirInUse, LocalState


def tables(tmp_path):
    table_dir = tmp_path / "lapsewatch-data" / "v1" / "tables"
    table_dir.mkdir(parents=True)
    (table_dir / "domains-0.db").write_text("rows")
    return table_dir


def test_a_first_start_keeps_what_is_there(tmp_path):
    table_dir = tables(tmp_path)
    state = LocalState(tmp_path, table_dir)
    assert state.claim() is False
    assert (table_dir / "domains-0.db").exists()
    assert state.marker.read_text().strip() == "running"


def test_after_a_clean_stop_the_tables_are_kept(tmp_path):
    table_dir = tables(tmp_path)
    first = LocalState(tmp_path, table_dir)
    first.claim()
    first.release()
    first._file.close()  # the process exits
    assert first.marker.read_text().strip() == "stopped"
    assert LocalState(tmp_path, table_dir).claim() is False
    assert (table_dir / "domains-0.db").exists()


def test_after_an_unclean_stop_the_tables_are_discarded(tmp_path):
    table_dir = tables(tmp_path)
    first = LocalState(tmp_path, table_dir)
    first.claim()
    first._file.close()  # killed: no release, the lock goes with the process
    again = LocalState(tmp_path, table_dir)
    assert again.claim() is True
    assert not table_dir.exists()
    assert again.marker.read_text().strip() == "running"


def test_a_second_worker_on_the_same_data_directory_is_refused(tmp_path):
    table_dir = tables(tmp_path)
    running = LocalState(tmp_path, table_dir)
    running.claim()
    with pytest.raises(DataDirInUse, match="LAPSEWATCH_DATA_DIR"):
        LocalState(tmp_path, table_dir).claim()
    assert (table_dir / "domains-0.db").exists()
