"""Argument checks shared by the API, the refit and the benches (a leaf module: it imports nothing of dws-edit)."""

from __future__ import annotations


def at_least(name: str, value, low: int) -> None:
    """ValueError (one line) unless ``value`` is an int >= ``low``: the range check of the API's and the benches'
    counts and step numbers."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}={value!r}: expected an integer >= {low}")
