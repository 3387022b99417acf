"""Atomic writes and the record every result file carries (command, git revision, seed, wall time)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see half a file.

    Raises ValueError naming ``path`` when it is a directory or cannot be written (no such folder, no
    permission, disk full); nothing is left behind."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give a file path to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:  # name the user's path, not the temporary one
        raise ValueError(f"cannot write {path}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise ValueError(f"cannot write {path}: {err.strerror or err}") from None
        raise


@contextmanager
def atomic_folder(out: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Write a whole folder or nothing: yields a temporary folder beside ``out`` to fill; when the block ends
    without an error it is renamed to ``out`` (mode 0755, not mkdtemp's 0700, so that others can read it), and with
    ``overwrite`` an existing ``out`` steps aside only then and is deleted once the new folder is in place. On an
    error or an interrupt the temporary folder goes and ``out`` is as it was. The caller checks that an ``out`` it
    overwrites is one of its own kind. Raises FileExistsError for an existing ``out`` without ``overwrite``."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: exists; choose another output (or overwrite)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            out.rename(old / out.name)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def git_revision() -> str:
    try:
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
        rev = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return (rev + ("-dirty" if dirty.stdout.strip() else "")) if rev else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def command_line(program: str = "dws-edit") -> str:
    """The command that is running: ``program`` and the process's arguments; under torchrun (``WORLD_SIZE`` > 1) the
    torchrun line that reruns it, ``torchrun --nnodes N --nproc-per-node P -m dws_edit.cli ...`` (the processes
    change the global batch: a run resumes only with the same)."""
    world, local = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if world > 1 and program == "dws-edit":
        program = f"torchrun --nnodes {world // max(local, 1)} --nproc-per-node {local} -m dws_edit.cli"
    return " ".join([program, *sys.argv[1:]])


def run_record(program: str, seed: int | None = None, started: float | None = None, **extra) -> dict:
    """What a result file records about the run that produced it: the command line (``program``, e.g.
    "dws-edit", "ns-edit" or "app.py", then the process's arguments: :func:`command_line`), the git revision, the
    seed, the wall time since ``started`` (a ``time.time()``) and any ``extra`` fields."""
    record = {"command": command_line(program), "git_revision": git_revision(), "seed": seed}
    if started is not None:
        record["wall_time_s"] = round(time.time() - started, 3)
    record.update(extra)
    return record
