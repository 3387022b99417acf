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


def floating_weights(dtype) -> None:
    """ValueError (one line) unless INR weights of ``dtype`` are floating point: the dtype rule of every model and
    front door (any float dtype is accepted and edited in the model's own)."""
    if not dtype.is_floating_point:
        raise ValueError(f"INR weights of dtype {dtype} are not accepted; accepted: floating point (float16, bfloat16, "
                         "float32, float64), cast to the model's dtype")  # fmt: skip
