"""The ``dws-edit`` command, in nerfstudio's style: nested tyro subcommands, each leaf a config dataclass
whose fields carry docstrings (so ``--help`` explains every option) and whose ``run()`` does the work.

``dws-edit <command> [<subcommand>] [--options]``; ``dws-edit --help`` lists the commands, ``dws-edit --version``
prints the version. A user mistake prints one line and exits with 2: a command line tyro refuses (an unknown option,
a value of the wrong type, a missing argument: :mod:`dws_edit.cli.errors`), or a ``ValueError`` or
``FileNotFoundError`` from the library. Ctrl-C prints one line and exits with 130.

Output files (``--out`` of ``edit``, ``inr ...`` and the benches' JSON, ``inr export``'s OUT) go into a folder that
exists: a missing one is refused in one line, as cp, curl and ffmpeg do, so that a mistyped folder never takes the
output where the user does not look. Output folders (the zoo of ``fit``, the run of ``train``, the ``demo`` and
``bench edit`` folders) are created, parents included, as training tools do, and named in what the command prints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Union

import tyro

from dws_edit import distributed as dist
from dws_edit.bench import BENCHES
from dws_edit.cli.edit import MODELS_COMMANDS, EditCommand
from dws_edit.cli.fit import FIT_COMMANDS, FitImages, FitMeshes, FitShapes, FitSines
from dws_edit.cli.inr import INR_COMMANDS
from dws_edit.cli.scene import MakeScene
from dws_edit.cli.tasks import Adapt, Classify
from dws_edit.cli.zoo import ZOO_COMMANDS
from dws_edit.console import console
from dws_edit.demo import Demo
from dws_edit.tasks.adapt import EvalAdapt, TrainAdapt
from dws_edit.tasks.classify import EvalClassify, TrainClassify
from dws_edit.tasks.edit import TrainEdit
from dws_edit.tasks.ood import TrainOOD
from dws_edit.tasks.ssl import EvalSSL, TrainSSL

TRAIN_COMMANDS = {"edit": TrainEdit, "ood": TrainOOD, "classify": TrainClassify, "ssl": TrainSSL, "adapt": TrainAdapt}
EVAL_COMMANDS = {"classify": EvalClassify, "ssl": EvalSSL, "adapt": EvalAdapt}

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
    cls.table = table  # its subcommands, for the one-line usage errors (dws_edit.cli.errors.command_path)
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
    "eval": command_group(
        "eval",
        "Evaluate the validation tasks' trained runs and write their reports (JSON, markdown, curves).",
        EVAL_COMMANDS,
    ),
    "bench": command_group("bench", "Side-by-side benchmarks; each measures its baseline in the same run.", BENCHES),
    "make-scene": MakeScene,
    "classify": Classify,
    "adapt": Adapt,
}


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    return f"{PROG}: warning: {message}\n"


def reflow_help() -> None:
    """Make ``--help`` reflow multi-line option docstrings. tyro 1.0 keeps a source line break before every line
    that starts with a non-letter (its ``_strings.remove_single_line_breaks``), which an indented continuation
    line always does; each text is cleaned first by PEP 257's rule (``inspect.cleandoc``) and its lines joined,
    so only real breaks (a blank line, a list item starting with - or *) stay. Does nothing where tyro has no
    such function; idempotent."""
    from tyro import _strings

    original = getattr(_strings, "remove_single_line_breaks", None)
    if original is None or getattr(original, "reflows", False):
        return

    def reflowed(text: str) -> str:
        lines: list[str] = []
        for line in inspect.cleandoc(text).split("\n"):
            if lines and lines[-1].strip() and line.strip() and not line.lstrip().startswith(("-", "*")):
                lines[-1] = f"{lines[-1].rstrip()} {line.strip()}"
            else:
                lines.append(line)
        return original("\n".join(lines))

    reflowed.reflows = True
    _strings.remove_single_line_breaks = reflowed


def main(argv: list[str] | None = None) -> None:
    warnings.formatwarning = _one_line_warning  # warnings for people: one line, no source excerpt
    reflow_help()
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--version"]:
        import dws_edit

        print(f"{PROG} {dws_edit.__version__}")
        return
    from dws_edit.cli.errors import UsageError, parse

    def cli(argv: list[str]):
        return tyro.cli(subcommands(COMMANDS), args=argv, prog=PROG, description=DESCRIPTION,
                        config=(tyro.conf.OmitSubcommandPrefixes,))  # fmt: skip

    lead = dist.launched_rank() == 0  # under torchrun every rank parses the same line: rank 0 alone speaks
    try:
        try:
            with contextlib.ExitStack() as quiet:
                if not lead:  # --help, a usage error: the same on every rank
                    devnull = quiet.enter_context(open(os.devnull, "w"))  # noqa: SIM115
                    quiet.enter_context(contextlib.redirect_stdout(devnull))
                    quiet.enter_context(contextlib.redirect_stderr(devnull))
                config = parse(cli, args, COMMANDS, PROG)
        except UsageError as err:  # the command line itself: one line, what is accepted, the --help to read
            if lead:
                print(f"{PROG}: error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        _run(config)
    except KeyboardInterrupt:  # Ctrl-C: one line and the shell's code; every write is atomic, nothing is half-written
        if lead:
            print(f"{PROG}: interrupted", file=sys.stderr)
        raise SystemExit(130) from None


FILE_SUFFIXES = (".safetensors", ".png", ".json", ".pt", ".pth", ".glb", ".gltf", ".obj", ".ply", ".stl", ".off")
"""Suffixes of the files an ``out`` option names; an ``out`` without one of them names a folder (created)."""


def check_out_folders(config) -> None:
    """Refuse, in one line and before any work, an output file (an ``out`` field of the command, nested ones too,
    ending in one of FILE_SUFFIXES) whose folder does not exist."""
    from dws_edit.cli.errors import is_positional

    if not dataclasses.is_dataclass(config):
        return
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name == "out" and isinstance(value, Path) and value.suffix.lower() in FILE_SUFFIXES:
            folder = value.parent
            if not folder.is_dir():
                what = "is not a folder" if folder.exists() else "does not exist"
                name = "OUT" if is_positional(type(config), f.name) else "--out"
                raise ValueError(f"{name} {value}: the folder {folder} {what}; accepted: a file in an existing folder "
                                 f"(create it first: mkdir -p {folder})")  # fmt: skip
        elif dataclasses.is_dataclass(value):
            check_out_folders(value)


DISTRIBUTED = (FitImages, FitSines, FitShapes, FitMeshes, TrainEdit, TrainClassify, TrainSSL, TrainAdapt)
"""The commands that run under torchrun, several processes on one job (:mod:`dws_edit.distributed`)."""


def check_distributed(config) -> None:
    """Under torchrun, refuse (one line) a command that does not split its work over the processes."""
    if dist.launched() and not isinstance(getattr(config, "command", config), DISTRIBUTED):
        raise ValueError(
            f"this command does not run under torchrun (WORLD_SIZE={os.environ['WORLD_SIZE']}); accepted under "
            "torchrun: dws-edit fit images|sines|shapes|meshes, dws-edit train edit|classify|ssl|adapt"
        )


def _run(config) -> None:
    rank = dist.launched_rank()
    try:
        try:
            check_out_folders(config)
            check_distributed(config)
        except ValueError as err:
            err.every_rank = True  # the same command line on every rank: rank 0 says it
            raise
        with dist.session(), warnings.catch_warnings():
            console.quiet = rank != 0  # under torchrun rank 0 alone prints (and warns) what every rank would
            if rank != 0:
                warnings.simplefilter("ignore")
            try:
                config.run()
            finally:
                console.quiet = False
    except (ValueError, FileNotFoundError) as err:  # a user mistake: one clear line, no stack trace
        text = str(err).strip().splitlines()[0] if str(err) else type(err).__name__
        if rank == 0:
            print(f"{PROG}: error: {text}", file=sys.stderr)
        elif not getattr(err, "every_rank", False):  # this rank's own (a file its node lacks): said with its rank
            print(f"{PROG}: error: rank {rank}: {text}", file=sys.stderr)
        raise SystemExit(2) from None
    except RuntimeError as err:
        if not (dist.launched() and dist.is_lost_peer(err)):
            raise
        print(f"{PROG}: error: rank {rank}: another process of this torchrun job stopped (torchrun's summary names "
              "it); rerun the same command to resume", file=sys.stderr)  # fmt: skip
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
