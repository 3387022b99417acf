"""Progress with an ETA for every long loop: a rich bar on a terminal, periodic log lines otherwise.

The ETA is the rate of the steps timed after the first one, and is shown ("-" until then) once :data:`MIN_TIMED`
steps have been timed: the first step carries the setup (the first allocations, a mesh's sample points, warm-up),
and a rate from it alone is far off."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

from dws_edit.console import console

MIN_TIMED = 3
"""Steps timed after the first before an ETA is shown."""


class _LogLines:
    """Plain lines ``title: done/total (pct) elapsed, ETA`` at most every ``every`` seconds."""

    def __init__(self, title: str, total: int, every: float = 30.0):
        self.title, self.total, self.every = title, total, every
        self.done, self.start, self.last = 0, time.time(), 0.0
        self.first: tuple[float, int] | None = None  # (time, steps done) at the first advance: timing starts there

    def eta(self, now: float) -> float | None:
        """Seconds left at the rate of the steps after the first; None until MIN_TIMED of them were timed."""
        if self.done >= self.total:
            return 0.0
        if self.first is None or self.done - self.first[1] < MIN_TIMED or now <= self.first[0]:
            return None
        return (now - self.first[0]) / (self.done - self.first[1]) * (self.total - self.done)

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.time()
        if self.first is None:
            self.first = (now, self.done)
        if now - self.last >= self.every or self.done >= self.total:
            self.last = now
            elapsed, eta = now - self.start, self.eta(now)
            pct = 100.0 * self.done / max(self.total, 1)
            left = "-" if eta is None else f"{eta:.0f}s"
            line = f"{self.title}: {self.done}/{self.total} ({pct:.0f}%) {elapsed:.0f}s elapsed, ETA {left}"
            console.print(line, highlight=False)


class _RichBar:
    def __init__(self, rich_progress, task):
        self.rich, self.task, self.done, self.first = rich_progress, task, 0, None

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.first is None:
            self.first = self.done
        self.rich.update(self.task, advance=n, timed=self.done - self.first)  # steps timed after the first


def _eta_column():
    """rich's time-remaining column, showing -:--:-- until MIN_TIMED steps after the first were timed (rich's own
    rate already leaves the first step's time out; from one or two steps it is still far off)."""
    from rich.progress import TimeRemainingColumn
    from rich.text import Text

    class EtaColumn(TimeRemainingColumn):
        def render(self, task):
            timed = task.fields.get("timed")
            if not task.finished and (timed is None or timed < MIN_TIMED):
                return Text("-:--:--", style="progress.remaining")
            return super().render(task)

    return EtaColumn()


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
    )

    columns = (
        TextColumn(title),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        _eta_column(),
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
