"""Progress for long loops: the fitters' ``progress(fraction)`` callbacks drive a bar of steps."""

import io

from dws_edit.progress import fraction_bar


def test_fraction_bar_counts_the_steps_a_fraction_callback_reports(capsys):
    with fraction_bar("fitting", 10) as progress:  # not a terminal here: plain lines, the first and the last
        for fraction in (0.04, 0.3, 0.25, 0.3, 1.0, 1.2):  # rounding, a step back and past the end are absorbed
            progress(fraction)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" ")[:3] for line in lines] == [["fitting:", "3/10", "(30%)"], ["fitting:", "10/10", "(100%)"]]
    assert all("ETA" in line for line in lines)


def test_the_eta_waits_for_timed_steps_and_leaves_the_slow_first_one_out(capsys, monkeypatch):
    """A first step of 100 s (setup, warm-up), then 1 s a step: no ETA from the first step (it would say 9,900 s),
    none until MIN_TIMED steps after it were timed, then the rate of those steps (1 s a step)."""
    from dws_edit import progress as module

    clock = iter([0.0] + [100.0 + k for k in range(100)])  # the bar's start, then each step's end
    monkeypatch.setattr(module.time, "time", lambda: next(clock))
    with module.progress_bar("fitting", 100) as bar:
        bar.every = 0.0  # a line at every step
        for _ in range(6):
            bar.advance()
    etas = [line.split("ETA ")[1] for line in capsys.readouterr().out.splitlines()]
    timed = module.MIN_TIMED
    assert etas[:timed] == ["-"] * timed  # steps 1..MIN_TIMED: the first, and too few after it to time
    assert etas[timed:] == [f"{100 - k}s" for k in range(timed + 1, 7)]  # 1 s a step: the steps left, in seconds


def test_the_terminal_bar_shows_no_eta_until_steps_are_timed():
    from rich.console import Console
    from rich.progress import Progress

    from dws_edit import progress as module

    column = module._eta_column()
    with Progress(column, console=Console(file=io.StringIO(), force_terminal=True), auto_refresh=False) as rich:
        bar = module._RichBar(rich, rich.add_task("fitting", total=1000))
        shown = []
        for _ in range(module.MIN_TIMED + 2):
            bar.advance()
            shown.append(column.render(rich.tasks[0]).plain)
    assert shown[: module.MIN_TIMED] == ["-:--:--"] * module.MIN_TIMED
    assert shown[-1] != "-:--:--" and shown[-1].count(":") == 2  # then rich's estimate, h:mm:ss
