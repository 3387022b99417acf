"""The ``dws-edit`` command, in nerfstudio's style: nested tyro subcommands, each leaf a config dataclass
whose fields carry docstrings (so ``--help`` explains every option) and whose ``run()`` does the work.

``dws-edit <command> [<subcommand>] [--options]``; ``dws-edit --help`` lists the commands, ``dws-edit --version``
prints the version. A user mistake (a ``ValueError`` or ``FileNotFoundError`` from the library) prints one line and
exits with 2; Ctrl-C prints one line and exits with 130.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from typing import Annotated, Union

import tyro

from dws_edit.bench import BENCHES
from dws_edit.cli.edit import MODELS_COMMANDS, EditCommand
from dws_edit.cli.fit import FIT_COMMANDS
from dws_edit.cli.inr import INR_COMMANDS
from dws_edit.cli.zoo import ZOO_COMMANDS
from dws_edit.demo import Demo
from dws_edit.tasks.edit import TrainEdit

TRAIN_COMMANDS = {"edit": TrainEdit}

PROG = "dws-edit"
DESCRIPTION = "Edit INRs (SIRENs) in weight space. dws-edit --version prints the version."


def _first_line(cls: type) -> str:
    return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


def subcommands(table: dict[str, type]):
    """A Union of the table's config classes, each annotated as a tyro subcommand named by its key.

    Padded with a suppressed ``None`` (as tyro.extras does) so that a one-entry table stays a subcommand."""
    options = [Annotated[cls, tyro.conf.subcommand(name, description=_first_line(cls))] for name, cls in table.items()]
    return Union[tuple(options + [Annotated[None, tyro.conf.Suppress]])]  # noqa: UP007 (a runtime Union)


def command_group(name: str, doc: str, table: dict[str, type]) -> type:
    """A config class ``<name> <subcommand> ...`` that runs the chosen subcommand."""
    field = Annotated[subcommands(table), tyro.conf.OmitArgPrefixes]  # flat flags: --steps, not --command.loop.steps
    cls = dataclasses.make_dataclass(f"{name.title()}Group", [("command", field)])
    cls.__doc__ = doc
    cls.run = lambda self: self.command.run()
    return cls


COMMANDS: dict[str, type] = {
    "demo": Demo,
    "edit": EditCommand,
    "inr": command_group("inr", "Single INR files: fit one to an image, render, import, export, info.", INR_COMMANDS),
    "models": command_group(
        "models", "The edits and the shipped models: list them, publish a trained one.", MODELS_COMMANDS
    ),
    "fit": command_group("fit", "Fit a zoo of INRs from a source (images, sines, shapes, meshes).", FIT_COMMANDS),
    "zoo": command_group("zoo", "Inspect fitted zoos.", ZOO_COMMANDS),
    "train": command_group("train", "Train models; resumable, with checkpoints and a results JSON.", TRAIN_COMMANDS),
    "bench": command_group("bench", "Side-by-side benchmarks; each measures its baseline in the same run.", BENCHES),
}


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    return f"{PROG}: warning: {message}\n"


def main(argv: list[str] | None = None) -> None:
    warnings.formatwarning = _one_line_warning  # warnings for people: one line, no source excerpt
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--version"]:
        import dws_edit

        print(f"{PROG} {dws_edit.__version__}")
        return
    try:
        config = tyro.cli(subcommands(COMMANDS), args=args, prog=PROG, description=DESCRIPTION,
                          config=(tyro.conf.OmitSubcommandPrefixes,))  # fmt: skip
        _run(config)
    except KeyboardInterrupt:  # Ctrl-C: one line and the shell's code; every write is atomic, nothing is half-written
        print(f"{PROG}: interrupted", file=sys.stderr)
        raise SystemExit(130) from None


def _run(config) -> None:
    try:
        config.run()
    except (ValueError, FileNotFoundError) as err:  # a user mistake: one clear line, no stack trace
        print(f"{PROG}: error: {str(err).strip().splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
