"""The one rich console of the package: every command, bench and progress line prints through it."""

from rich.console import Console

console = Console(width=max(Console().width, 120))
