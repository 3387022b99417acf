"""Typed parameters of the learned edits: valid range, batching, validation, sampling and conditioning encoding.

A parameter's *canonical* value is a tensor with a leading batch axis: ``[B]`` for a number or a choice (the
choice as a long index), ``[B, k]`` for a vector or a box. ``B`` is 1 when one value is shared by a whole batch
(it broadcasts). Its conditioning encoding has ``size`` O(1) values per network.

Two ranges per number (issue 32): the *accepted* range (what validation lets through: any box inside the cube, any
ball centered in it) and the *trained* range (what training samples, and what the encoding maps to [-1, 1]; values
inside it encode exactly as before the two were separated). A learned pass outside the trained range extrapolates:
:meth:`untrained` names the range, ``dws_edit.edit`` warns in one line and the never-worse guard checks the result.
``wide`` is the sampling range of the wide training recipes (``--wide-params``; default the accepted range).
A choice with ``encoded=False`` (symmetrize's ``mode``) selects the target's form and is not in the encoding: a
model is trained on one such form, which its card names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


def _as_float_tensor(value, where: str, name: str) -> Tensor:
    """Python numbers become float64 (kept exact until the caller casts); tensors keep a float dtype. Raises
    ValueError (one line) for anything that is not numbers (a string, None, a mapping)."""
    try:
        t = value if isinstance(value, Tensor) else torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{where}: {name}={value!r} is not accepted; expected numbers") from None
    return t if t.is_floating_point() else t.to(torch.float64)


def _outside(t: Tensor, low: float, high: float) -> Tensor:
    """Mask of values outside ``[low, high]`` (NaN included), with a float32 rounding tolerance at the ends."""
    tol = 1e-6 * max(1.0, abs(low), abs(high))
    return ~((t >= low - tol) & (t <= high + tol))


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _range(low: float, high: float, low_open: bool = False) -> str:
    return f"{'(' if low_open else '['}{_fmt(low)}, {_fmt(high)}]"


def _refused(t: Tensor, low: float, high: float, low_open: bool) -> Tensor:
    """Mask of values outside the accepted range (``low`` excluded where ``low_open``)."""
    return _outside(t, low, high) | (t <= low if low_open else torch.zeros_like(t, dtype=torch.bool))


def _beyond(t: Tensor, name: str, low: float, high: float, what: str = "") -> str | None:
    """One clause naming the first value of ``t`` outside the trained ``[low, high]``, or None."""
    bad = _outside(t, low, high)
    if not bad.any():
        return None
    return f"{name}{what} {_fmt(float(t[bad][0]))} is outside the trained range {_range(low, high)}"


@dataclass(frozen=True)
class FloatParam:
    """A number in ``[low, high]``; canonical ``[B]``; sampled uniformly, or log-uniformly when ``log``.

    ``[low, high]`` is the trained range; ``accept`` (default: the same) the accepted one, its low end excluded
    where ``low_open``; ``wide`` the wide recipes' sampling range (default ``accept``).

    Encoding (1 value): the value mapped linearly (in log space when ``log``) from ``[low, high]`` to ``[-1, 1]``.
    """

    name: str
    low: float
    high: float
    doc: str
    log: bool = False
    unit: str = ""
    optional: bool = False
    accept: tuple[float, float] | None = None
    low_open: bool = False
    wide: tuple[float, float] | None = None

    @property
    def size(self) -> int:
        return 1

    @property
    def accepted_range(self) -> tuple[float, float]:
        return self.accept or (self.low, self.high)

    def accepted(self) -> str:
        scale = " (log scale)" if self.log else ""
        unit = f" {self.unit}" if self.unit else ""
        if math.isinf(self.high):  # the closed forms' unbounded numbers
            bound = "a number" if math.isinf(self.low) else f"a number > {_fmt(self.low)}"
            return f"{self.name}: {bound}" + (f" ({self.unit})" if self.unit else "")
        trained = f" (trained on {_range(self.low, self.high)})" if self.accept else ""
        return f"{self.name} in {_range(*self.accepted_range, self.low_open)}{unit}{scale}{trained}"

    def canonical(self, value, where: str) -> Tensor:
        t = _as_float_tensor(value, where, self.name)
        if t.dim() == 2 and t.shape[1] == 1:
            t = t[:, 0]
        if t.dim() > 1:
            raise ValueError(f"{where}: {self.name} must be a number or a [B] tensor; got shape {tuple(t.shape)}")
        t = t.reshape(-1) if t.dim() == 0 else t
        low, high = self.accepted_range
        bad = _refused(t, low, high, self.low_open)
        if bad.any():
            v = float(t[bad][0])
            raise ValueError(
                f"{where}: {self.name}={_fmt(v)} is outside the accepted range {_range(low, high, self.low_open)}"
            )
        return t

    def untrained(self, t: Tensor, wide: bool = False) -> str | None:
        """A clause naming the first canonical value outside the trained range (the wide one when ``wide``)."""
        return _beyond(t, self.name, *self._sampled(wide))

    def _sampled(self, wide: bool) -> tuple[float, float]:
        return (self.wide or self.accepted_range) if wide else (self.low, self.high)

    def _warp(self, t: Tensor) -> Tensor:
        return t.log() if self.log else t

    def encode(self, t: Tensor) -> Tensor:
        lo, hi = (math.log(self.low), math.log(self.high)) if self.log else (self.low, self.high)
        return (2 * (self._warp(t) - lo) / (hi - lo) - 1)[:, None]

    def sample(self, n: int, generator: torch.Generator | None, wide: bool = False) -> Tensor:
        """``n`` values drawn from the trained range (the ``wide`` one when ``wide``)."""
        low, high = self._sampled(wide)
        u = torch.rand(n, generator=generator)
        if self.log:
            return torch.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        return low + u * (high - low)


@dataclass(frozen=True)
class ChoiceParam:
    """One of ``choices`` (given by name or index); canonical long ``[B]`` indices; sampled uniformly.

    Encoding (``len(choices)`` values): one-hot. With ``encoded=False`` (a choice of the target's form, as
    symmetrize's ``mode``): no encoding (size 0), sampled as ``default`` (training fixes it: ``TrainEdit.mode``),
    and ``default`` where it is not given.
    """

    name: str
    choices: tuple[str, ...]
    doc: str
    unit: str = ""
    optional: bool = False
    encoded: bool = True
    default: str | None = None

    @property
    def size(self) -> int:
        return len(self.choices) if self.encoded else 0

    def accepted(self) -> str:
        default = f", default {self.default}" if self.default is not None else ""
        return f"{self.name} one of {self.choices} (or index 0..{len(self.choices) - 1}){default}"

    def _index(self, v, where: str) -> int:
        if isinstance(v, str) and v in self.choices:
            return self.choices.index(v)
        if isinstance(v, str) and v.isdigit():  # an index as the command line gives it: "--axis 2"
            v = int(v)
        if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(self.choices):
            return v
        raise ValueError(f"{where}: {self.name}={v!r} is not accepted; accepted: {self.accepted()}")

    def canonical(self, value, where: str) -> Tensor:
        if isinstance(value, Tensor):
            if value.is_floating_point() or value.dim() > 1:
                raise ValueError(
                    f"{where}: {self.name} tensor must hold integer indices [B], got {value.dtype} "
                    f"{tuple(value.shape)}; accepted: {self.accepted()}"
                )
            t = value.reshape(-1).long()
            bad = (t < 0) | (t >= len(self.choices))
            if bad.any():
                self._index(int(t[bad][0]), where)
            return t
        items = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        return torch.tensor([self._index(v, where) for v in items], dtype=torch.long)

    def encode(self, t: Tensor) -> Tensor:
        if not self.encoded:
            return torch.zeros(t.shape[0], 0)
        return torch.nn.functional.one_hot(t, len(self.choices)).to(torch.get_default_dtype())

    def untrained(self, t: Tensor, wide: bool = False) -> str | None:
        return None  # every choice is sampled (a form not encoded: the model's card names the one it learned)

    def sample(self, n: int, generator: torch.Generator | None, wide: bool = False) -> Tensor:
        if not self.encoded:  # draws nothing: the other parameters' draws stay as they were
            return torch.full((n,), self.choices.index(self.default), dtype=torch.long)
        return torch.randint(len(self.choices), (n,), generator=generator)


@dataclass(frozen=True)
class VectorParam:
    """``size`` numbers each in ``[low, high]`` (e.g. a center); canonical ``[B, size]``; sampled uniformly.

    ``[low, high]`` is the trained range; ``accept`` (default: the same) the accepted one; ``wide`` the wide
    recipes' sampling range (default ``accept``).

    Encoding (``size`` values): the numbers mapped linearly from ``[low, high]`` to ``[-1, 1]``.
    """

    name: str
    size: int
    low: float
    high: float
    doc: str
    unit: str = ""
    optional: bool = False
    accept: tuple[float, float] | None = None
    wide: tuple[float, float] | None = None

    @property
    def accepted_range(self) -> tuple[float, float]:
        return self.accept or (self.low, self.high)

    def accepted(self) -> str:
        unit = f" ({self.unit})" if self.unit else ""
        if math.isinf(self.low) and math.isinf(self.high):
            return f"{self.name}: {self.size} numbers{unit}"
        trained = f" (trained on {_range(self.low, self.high)})" if self.accept else ""
        return f"{self.name}: {self.size} numbers in {_range(*self.accepted_range)}{unit}{trained}"

    def _shaped(self, value, where: str) -> Tensor:
        t = _as_float_tensor(value, where, self.name)
        t = t[None] if t.dim() == 1 else t
        if t.dim() != 2 or t.shape[1] != self.size:
            raise ValueError(
                f"{where}: {self.name} must be {self.size} numbers or a [B, {self.size}] tensor; "
                f"got shape {tuple(t.shape)}"
            )
        return t

    def canonical(self, value, where: str) -> Tensor:
        t = self._shaped(value, where)
        low, high = self.accepted_range
        bad = _outside(t, low, high)
        if bad.any():
            v = float(t[bad][0])
            raise ValueError(f"{where}: {self.name} value {_fmt(v)} is outside the accepted range {_range(low, high)}")
        return t

    def encode(self, t: Tensor) -> Tensor:
        return 2 * (t - self.low) / (self.high - self.low) - 1

    def _sampled(self, wide: bool) -> tuple[float, float]:
        return (self.wide or self.accepted_range) if wide else (self.low, self.high)

    def untrained(self, t: Tensor, wide: bool = False) -> str | None:
        """A clause naming the first canonical value outside the trained range (the wide one when ``wide``)."""
        return _beyond(t, self.name, *self._sampled(wide), " value")

    def sample(self, n: int, generator: torch.Generator | None, wide: bool = False) -> Tensor:
        """``n`` vectors drawn uniformly from the trained range (the ``wide`` one when ``wide``)."""
        low, high = self._sampled(wide)
        return low + torch.rand(n, self.size, generator=generator) * (high - low)


@dataclass(frozen=True)
class BoxParam:
    """An axis-aligned box ``[min_0, ..., min_{d-1}, max_0, ..., max_{d-1}]`` inside ``[-bound, bound]^d`` whose
    sides ``max_i - min_i`` lie in ``[side_low, side_high]`` (the trained range); canonical ``[B, 2d]``.

    ``accept_sides``: the accepted sides, ``(low, high]`` (default: the trained ``[side_low, side_high]``); e.g.
    ``(0, 2 bound]``: any box of positive sides inside the cube, a slab, a half, the whole cube. ``wide_sides``:
    the wide recipes' sampling range of the sides (default ``[side_low, 2 bound]``).

    Sampled: each side uniform in the trained range (the wide one when ``wide``), then the min corner uniform where
    the box fits. Encoding (``2d`` values): the corners divided by ``bound`` (in [-1, 1]).
    """

    name: str
    dim: int
    side_low: float
    side_high: float
    doc: str
    bound: float = 1.0
    unit: str = ""
    optional: bool = False
    accept_sides: tuple[float, float] | None = None
    wide_sides: tuple[float, float] | None = None

    @property
    def size(self) -> int:
        return 2 * self.dim

    def accepted(self) -> str:
        axes = "xyz"[: self.dim] if self.dim <= 3 else [f"x{i}" for i in range(self.dim)]
        corners = ", ".join([f"{a}min" for a in axes] + [f"{a}max" for a in axes])
        sides = _range(*self.accept_sides, True) if self.accept_sides else _range(self.side_low, self.side_high)
        trained = f" (trained on {_range(self.side_low, self.side_high)})" if self.accept_sides else ""
        cube = _range(-self.bound, self.bound)
        return f"{self.name} [{corners}] with corners in {cube} and sides in {sides}{trained}"

    def _sides(self, wide: bool) -> tuple[float, float]:
        return (self.wide_sides or (self.side_low, 2 * self.bound)) if wide else (self.side_low, self.side_high)

    def canonical(self, value, where: str) -> Tensor:
        t = _as_float_tensor(value, where, self.name)
        t = t[None] if t.dim() == 1 else t
        if t.dim() != 2 or t.shape[1] != self.size:
            raise ValueError(
                f"{where}: {self.name} must be {self.size} numbers (min corner then max corner) or a "
                f"[B, {self.size}] tensor; got shape {tuple(t.shape)}"
            )
        bad = _outside(t, -self.bound, self.bound)
        if bad.any():
            raise ValueError(
                f"{where}: {self.name} corner value {_fmt(float(t[bad][0]))} is outside the accepted range "
                f"[{_fmt(-self.bound)}, {_fmt(self.bound)}]"
            )
        side = t[:, self.dim :] - t[:, : self.dim]
        low, high = self.accept_sides or (self.side_low, self.side_high)
        bad = _refused(side, low, high, self.accept_sides is not None)
        if bad.any():
            raise ValueError(
                f"{where}: {self.name} side along {self._axis(bad)} (max - min) = {_fmt(float(side[bad][0]))} is "
                f"outside the accepted range {_range(low, high, self.accept_sides is not None)}"
            )
        return t

    def encode(self, t: Tensor) -> Tensor:
        return t / self.bound

    def untrained(self, t: Tensor, wide: bool = False) -> str | None:
        """A clause naming the first side of a canonical box outside the trained range (the wide one when ``wide``)."""
        side = t[:, self.dim :] - t[:, : self.dim]
        low, high = self._sides(wide)
        bad = _outside(side, low, high)
        return _beyond(side, self.name, low, high, f" side along {self._axis(bad)} (max - min)") if bad.any() else None

    def _axis(self, bad: Tensor) -> str:
        """The name of the axis of the first True of a [B, dim] mask: x, y, z (x0, x1, ... above 3-D)."""
        axis = int(bad.nonzero()[0, 1])
        return "xyz"[axis] if self.dim <= 3 else f"x{axis}"

    def sample(self, n: int, generator: torch.Generator | None, wide: bool = False) -> Tensor:
        """``n`` boxes: sides uniform in the trained range (the wide one when ``wide``), min corners where they fit."""
        side_low, side_high = self._sides(wide)
        side = side_low + torch.rand(n, self.dim, generator=generator) * (side_high - side_low)
        low = -self.bound + torch.rand(n, self.dim, generator=generator) * (2 * self.bound - side)
        return torch.cat([low, low + side], dim=1)


@dataclass(frozen=True)
class ValueParam:
    """A value the parameter classes above do not describe (a matrix, a second INR), checked by the exact edit that
    takes it; ``expects`` says what is accepted. Not a conditioning input (learned edits take none)."""

    name: str
    expects: str
    doc: str
    unit: str = ""
    optional: bool = False

    def accepted(self) -> str:
        return f"{self.name}: {self.expects}"


Param = FloatParam | ChoiceParam | VectorParam | BoxParam | ValueParam

__all__ = ["BoxParam", "ChoiceParam", "FloatParam", "Param", "ValueParam", "VectorParam"]
