"""Argument checks shared by the API, the refit and the benches (a leaf module: it imports nothing of dws-edit)."""

from __future__ import annotations


def at_least(name: str, value, low: int) -> None:
    """ValueError (one line) unless ``value`` is an int >= ``low``: the range check of the API's and the benches'
    counts and step numbers."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}={value!r}: expected an integer >= {low}")


def positive_number(name: str, value, high: float = float("inf"), zero: bool = False) -> None:
    """ValueError (one line) unless ``value`` is a real number > 0 (>= 0 with ``zero``) and < ``high``, finite: the
    range check of learning rates and fitting targets."""
    import math
    import numbers

    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not (value >= 0 if zero else value > 0) or not value < high:
        bound = f"{'>= 0' if zero else '> 0'}" + (f" and < {high:g}" if math.isfinite(high) else "")
        raise ValueError(f"{name}={value!r}: expected a finite number {bound}")
