"""Progress with an ETA for every long loop: a rich bar on a terminal, periodic log lines otherwise."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

from dws_edit.console import console


class _LogLines:
    """Plain lines ``title: done/total (pct) elapsed, ETA`` at most every ``every`` seconds."""

    def __init__(self, title: str, total: int, every: float = 30.0):
        self.title, self.total, self.every = title, total, every
        self.done, self.start, self.last = 0, time.time(), 0.0

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.time()
        if now - self.last >= self.every or self.done >= self.total:
            self.last = now
            elapsed = now - self.start
            eta = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
            pct = 100.0 * self.done / max(self.total, 1)
            line = f"{self.title}: {self.done}/{self.total} ({pct:.0f}%) {elapsed:.0f}s elapsed, ETA {eta:.0f}s"
            console.print(line, highlight=False)


class _RichBar:
    def __init__(self, rich_progress, task):
        self.rich, self.task = rich_progress, task

    def advance(self, n: int = 1) -> None:
        self.rich.advance(self.task, n)


@contextmanager
def progress_bar(title: str, total: int, enabled: bool = True):
    """``with progress_bar("fitting", 1000) as bar: bar.advance(n)``; ``enabled=False`` shows nothing."""
    if not enabled:
        yield _LogLines(title, total, every=float("inf"))
        return
    if not sys.stdout.isatty():
        yield _LogLines(title, total)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn(title),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        yield _RichBar(bar, bar.add_task(title, total=total))


@contextmanager
def fraction_bar(title: str, total: int, enabled: bool = True):
    """A :func:`progress_bar` of ``total`` steps driven by a ``progress(fraction)`` callback, the form the fitters
    take (``fit_image``, ``fit_mesh``, ``fit_images(on_step=...)``: the fraction of the fit done, in [0, 1])::

        with fraction_bar("fitting", steps) as progress:
            fit_mesh(mesh, max_steps=steps, progress=progress)
    """
    with progress_bar(title, total, enabled) as bar:
        done = 0

        def progress(fraction: float) -> None:
            nonlocal done
            now = min(total, round(fraction * total))
            if now > done:
                bar.advance(now - done)
                done = now

        yield progress
