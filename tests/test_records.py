"""Run records and atomic writes."""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import dws_edit.records
from dws_edit.records import atomic_write_bytes, git_revision, run_record


def test_run_record_names_the_program_and_measures_wall_time(monkeypatch):
    monkeypatch.setattr("sys.argv", ["whatever", "--flag", "1"])
    record = run_record("ns-edit", seed=7, started=time.time() - 2.0, zoo="z")
    assert record["command"] == "ns-edit --flag 1"
    assert record["seed"] == 7 and record["zoo"] == "z"
    assert 2.0 <= record["wall_time_s"] < 60
    assert record["git_revision"] == git_revision()
    root = Path(dws_edit.records.__file__).resolve().parent.parent
    if shutil.which("git") and (root / ".git").exists():  # this checkout: its real commit, not "unknown"
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        assert re.fullmatch(r"[0-9a-f]{7,}(-dirty)?", record["git_revision"]), record["git_revision"]
        assert record["git_revision"].removesuffix("-dirty") == head.stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")
def test_git_revision_is_the_checkout_s_commit_marked_dirty_when_a_tracked_file_changed(tmp_path, monkeypatch):
    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True).stdout

    package = tmp_path / "dws_edit"
    package.mkdir()
    monkeypatch.setattr(dws_edit.records, "__file__", str(package / "records.py"))  # a package in that checkout
    if subprocess.run(["git", "-C", str(tmp_path), "rev-parse"], capture_output=True).returncode != 0:
        assert git_revision() == "unknown"  # not a checkout (yet)
    git("init", "-q")
    (package / "records.py").write_text("one\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    head = git("rev-parse", "--short", "HEAD").strip()
    assert len(head) >= 7 and git_revision() == head
    (tmp_path / "untracked.txt").write_text("not part of the revision")
    assert git_revision() == head
    (package / "records.py").write_text("two\n")  # a tracked file changed: the results are not the commit's
    assert git_revision() == f"{head}-dirty"
    assert run_record("dws-edit")["git_revision"] == f"{head}-dirty"


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
