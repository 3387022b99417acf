"""The ``dws-edit`` command: ``dws-edit <command> [<sub>] [--options]``; each leaf is a config dataclass
parsed by tyro whose ``run()`` does the work."""

from __future__ import annotations

import sys

import tyro

from dws_edit.bench import BENCHES
from dws_edit.data.sources import SOURCES
from dws_edit.data.zoo import ZooInfo
from dws_edit.demo import Demo

# command -> config class, or -> {subcommand: config class}
COMMANDS: dict[str, type | dict[str, type]] = {
    "demo": Demo,
    "fit": SOURCES,
    "zoo": {"info": ZooInfo},
    "bench": BENCHES,
}


def _usage(prefix: str, table: dict) -> str:
    lines = [f"usage: {prefix} <command> [--options]   ({prefix} <command> --help for its options)", "", "commands:"]
    for name, item in table.items():
        doc = (item.__doc__ or "").strip().splitlines()[0] if isinstance(item, type) else "one of: " + ", ".join(item)
        lines.append(f"  {name:<10} {doc}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    prefix, table = "dws-edit", COMMANDS
    while isinstance(table, dict):
        if not args or args[0] in ("-h", "--help"):
            print(_usage(prefix, table))
            raise SystemExit(0 if args else 2)
        name = args.pop(0)
        if name not in table:
            print(f"{prefix}: error: unknown command {name!r}; accepted: {', '.join(table)}", file=sys.stderr)
            raise SystemExit(2)
        prefix, table = f"{prefix} {name}", table[name]
    config = tyro.cli(table, args=args, prog=prefix)
    try:
        config.run()
    except (ValueError, FileNotFoundError) as err:  # a user mistake: one clear line, no stack trace
        print(f"{prefix}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
