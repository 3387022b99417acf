"""Progress for long loops: the fitters' ``progress(fraction)`` callbacks drive a bar of steps."""

from dws_edit.progress import fraction_bar


def test_fraction_bar_counts_the_steps_a_fraction_callback_reports(capsys):
    with fraction_bar("fitting", 10) as progress:  # not a terminal here: plain lines, the first and the last
        for fraction in (0.04, 0.3, 0.25, 0.3, 1.0, 1.2):  # rounding, a step back and past the end are absorbed
            progress(fraction)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" ")[:3] for line in lines] == [["fitting:", "3/10", "(30%)"], ["fitting:", "10/10", "(100%)"]]
    assert all("ETA" in line for line in lines)
