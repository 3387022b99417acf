"""Running the dws-edit command in-process, as the tests of the command line do."""

from dws_edit.cli import main


def run(*args) -> int:
    """``dws-edit ARGS`` in this process: its exit status (0, or what SystemExit carried)."""
    try:
        main([str(a) for a in args])
    except SystemExit as exit_:
        return exit_.code
    return 0
