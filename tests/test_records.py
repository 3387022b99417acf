"""Run records and atomic writes."""

import os
import time

import pytest

from dws_edit.records import atomic_write_bytes, run_record


def test_run_record_names_the_program_and_measures_wall_time(monkeypatch):
    monkeypatch.setattr("sys.argv", ["whatever", "--flag", "1"])
    record = run_record("ns-edit", seed=7, started=time.time() - 2.0, zoo="z")
    assert record["command"] == "ns-edit --flag 1"
    assert record["seed"] == 7 and record["zoo"] == "z"
    assert 2.0 <= record["wall_time_s"] < 60
    assert record["git_revision"] and record["git_revision"] != ""


def test_failed_atomic_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "result.json"
    atomic_write_bytes(path, b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ValueError, match=f"cannot write {path}: disk full"):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
