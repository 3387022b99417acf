"""The command line's usage errors in one line: what is wrong, what is accepted, and the --help that explains it.

tyro reports a bad command line (an unknown option, a value of the wrong type, a missing argument or command) in a
box of many lines. :func:`parse` runs ``tyro.cli`` with tyro's parse-error hook (``tyro._errors.on_parse_error``,
tyro >= 1.0), which hands over each failure as a structured event, and turns the events it knows into one line
(:class:`UsageError`); any other failure, or a tyro without the hook, has its box read from stderr and flattened
into one line. Either way the caller prints ``dws-edit: error: <line>`` and exits with 2.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import io
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import tyro

_POSITIONAL = get_args(tyro.conf.Positional[int])[1:]
_SUPPRESS = get_args(tyro.conf.Suppress[int])[1:]


class UsageError(Exception):
    """A command line tyro refused, as one line (without the ``dws-edit: error:`` prefix)."""


def _name(word: str) -> str:
    return word.replace("_", "-")


def command_path(args: list[str], commands: dict[str, Any]) -> tuple[list[str], Any]:
    """The (sub)command words at the start of ``args`` and what they lead to: a config class, or a table
    ``{name: class}`` of the subcommands still to choose (a command group's ``table``, :data:`COMMANDS` itself)."""
    words: list[str] = []
    here: Any = commands
    for token in args:
        if not isinstance(here, dict):
            break
        found = {_name(k): v for k, v in here.items()}.get(_name(token))
        if found is None:
            break
        words.append(_name(token))
        here = getattr(found, "table", found)
    return words, here


def _unwrap(hint: Any) -> tuple[Any, tuple]:
    """``Annotated[T, markers...]`` -> (T, markers); anything else -> (hint, ())."""
    if get_origin(hint) is Annotated:
        base, *markers = get_args(hint)
        inner, more = _unwrap(base)
        return inner, tuple(markers) + more
    return hint, ()


def is_positional(cls: type, name: str) -> bool:
    """Whether field ``name`` of config dataclass ``cls`` is a positional argument."""
    _, markers = _unwrap(typing.get_type_hints(cls, include_extras=True)[name])
    return any(m in markers for m in _POSITIONAL)


def options_of(cls: type, prefix: str = "") -> list[str]:
    """The ``--flags`` of a config dataclass as tyro spells them (nested dataclasses flat where they omit their
    prefix, else ``--field.flag``); positionals and suppressed fields left out."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out: list[str] = []
    for f in dataclasses.fields(cls):
        base, markers = _unwrap(hints[f.name])
        if any(m in markers for m in _POSITIONAL + _SUPPRESS):
            continue
        if isinstance(base, type) and dataclasses.is_dataclass(base):
            flat = tyro.conf.OmitArgPrefixes in markers
            out += options_of(base, prefix if flat else f"{prefix}{_name(f.name)}.")
        else:
            out.append(f"--{prefix}{_name(f.name)}")
    return out


def _expects(arg: Any) -> str:
    """What an argument accepts, in words: its choices, or its type."""
    metavar = str(arg.lowered.metavar or "")
    if metavar.startswith("{") and metavar.endswith("}") and "}|{" not in metavar:
        return "one of " + ", ".join(metavar[1:-1].split(","))
    base = arg.field.type_stripped
    if get_origin(base) in (Union, types.UnionType):  # X | None: X (None is the default, not a value to give)
        base = next((a for a in get_args(base) if a is not type(None)), base)
    words = {int: "an integer", float: "a number", str: "a text", Path: "a path", bool: "no value (a switch)"}
    if base in words:
        return words[base]
    if get_origin(base) is tuple:
        inner = get_args(base)[0] if get_args(base) else float
        return f"{'numbers' if inner in (int, float) else 'values'} separated by spaces"
    return metavar or "a value"


def _display(arg: Any) -> str:
    """The argument as the user spells it: ``--flag``, or a positional's name in capitals."""
    return str(arg.field.intern_name).upper() if arg.is_positional() else str(arg.lowered.name_or_flags[0])


def _given(args: list[str], flag: str) -> str:
    """The value(s) given after ``flag`` on the command line ('' where there are none)."""
    for i, token in enumerate(args):
        if token == flag:
            values = []
            for value in args[i + 1 :]:
                if value.startswith("--"):
                    break
                values.append(value)
            return " ".join(values)
        if token.startswith(flag + "="):
            return token[len(flag) + 1 :]
    return ""


def _help(prog: str, words: list[str]) -> str:
    return f"{' '.join([prog, *words])} --help"


def _unrecognized(tokens: list[str], words: list[str], here: Any, prog: str) -> str:
    where = " ".join([prog, *words])
    if isinstance(here, dict):  # a command was expected
        names = [_name(k) for k in here]
        close = difflib.get_close_matches(tokens[0], names, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return (f"unknown command {tokens[0]!r} for {where}{hint}; accepted: {', '.join(names)}; "
                f"{_help(prog, words)} explains each")  # fmt: skip
    options = options_of(here) if dataclasses.is_dataclass(here) else []
    flags = [t for t in tokens if t.startswith("-")]
    if not flags:  # values without an option: a switch given a value, or one positional too many
        return (f"unexpected argument {' '.join(tokens)!r} for {where} (a switch such as --exact takes no value); "
                f"see {_help(prog, words)}")  # fmt: skip
    bad = flags[0].split("=")[0]
    switches = options + [f"--no-{o[2:]}" for o in options]
    close = difflib.get_close_matches(bad, switches, n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return (f"unknown option {bad} for {where}{hint}; accepted: {', '.join(options) or 'none'}; "
            f"{_help(prog, words)} explains each")  # fmt: skip


def one_line(event: Any, args: list[str], commands: dict[str, Any], prog: str) -> str | None:
    """The one line for a tyro parse-error event; None for an event of a kind not handled here."""
    from tyro import _errors

    words, here = command_path(args, commands)
    where = " ".join([prog, *words])
    if isinstance(event, _errors.UnrecognizedArgs):
        return _unrecognized(list(event.tokens), words, here, prog)
    if isinstance(event, _errors.MissingSubcommand):
        names = list(event.subcommand_spec.parser_from_name)
        return f"{where} needs a command; accepted: {', '.join(names)}; {_help(prog, words)} explains each"
    if isinstance(event, _errors.MissingArgs):
        missing = [f"{_display(a.arg)} ({_expects(a.arg)})" for a in event.missing_arguments]
        return f"{where} needs {', '.join(missing)}; see {_help(prog, words)}"
    if isinstance(event, _errors.InvalidChoice):
        flag = _display(event.argument)
        return (f"{flag} {event.value}: not accepted; accepted: {', '.join(map(str, event.choices))}; "
                f"see {_help(prog, words)}")  # fmt: skip
    if isinstance(event, _errors.BadValue):
        flag = _display(event.argument)
        if event.reason == "too_few_values":
            return f"{flag}: missing its value; accepted: {_expects(event.argument)}; see {_help(prog, words)}"
        return f"{flag} takes no value, got {event.offending_value!r}; see {_help(prog, words)}"
    if isinstance(event, _errors.InstantiationFailure) and event.argument is not None:
        flag = _display(event.argument)
        value = _given(args, flag) if flag.startswith("-") else ""
        return f"{flag} {value}: accepted: {_expects(event.argument)}; see {_help(prog, words)}".replace("  ", " ")
    return None


def _flatten(box: str) -> str:
    """tyro's boxed error as one line: its title and text, without the box and the --help footer."""
    lines = [" ".join(line.strip(" │╭╮╰╯─").split()) for line in box.splitlines()]
    kept = [line for line in lines if line and not line.startswith(("For full helptext", "dws-edit "))]
    return "; ".join(kept) or "the command line was not accepted"


def parse(cli, args: list[str], commands: dict[str, Any], prog: str):
    """``cli(args)`` (a ``tyro.cli`` call) whose usage errors come out as :class:`UsageError` (one line); --help
    and a parsed command line behave as tyro's own."""
    try:
        from tyro import _errors
    except ImportError:  # a tyro without the hook: its box, flattened
        _errors = None

    def hook(event):
        try:
            line = one_line(event, args, commands, prog)
        except Exception:  # noqa: BLE001 (the hook's events are tyro's private API: if they change, the box)
            line = None
        if line is not None:
            raise UsageError(line)

    captured, failed = io.StringIO(), True
    try:
        with contextlib.ExitStack() as stack:
            if _errors is not None and hasattr(_errors, "on_parse_error"):
                stack.enter_context(_errors.on_parse_error(hook))
            stack.enter_context(contextlib.redirect_stderr(captured))
            result = cli(args)
        failed = False
        return result
    except SystemExit as exit_:
        if exit_.code in (0, None):  # --help
            failed = False
            raise
        raise UsageError(_flatten(captured.getvalue())) from None
    finally:
        if not failed:  # what tyro wrote to stderr otherwise (a warning) goes on there
            sys.stderr.write(captured.getvalue())
