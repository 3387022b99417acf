"""Typed parameters of the learned edits: valid range, batching, validation, sampling and conditioning encoding.

A parameter's *canonical* value is a tensor with a leading batch axis: ``[B]`` for a number or a choice (the
choice as a long index), ``[B, k]`` for a vector or a box. ``B`` is 1 when one value is shared by a whole batch
(it broadcasts). The same range serves input validation and training sampling, so an edit model is never asked
for a parameter it was not trained on. Its conditioning encoding has ``size`` O(1) values per network.
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


@dataclass(frozen=True)
class FloatParam:
    """A number in ``[low, high]``; canonical ``[B]``; sampled uniformly, or log-uniformly when ``log``.

    Encoding (1 value): the value mapped linearly (in log space when ``log``) from ``[low, high]`` to ``[-1, 1]``.
    """

    name: str
    low: float
    high: float
    doc: str
    log: bool = False
    unit: str = ""
    optional: bool = False

    @property
    def size(self) -> int:
        return 1

    def accepted(self) -> str:
        scale = " (log scale)" if self.log else ""
        unit = f" {self.unit}" if self.unit else ""
        if math.isinf(self.high):  # the closed forms' unbounded numbers
            bound = "a number" if math.isinf(self.low) else f"a number > {_fmt(self.low)}"
            return f"{self.name}: {bound}" + (f" ({self.unit})" if self.unit else "")
        return f"{self.name} in [{_fmt(self.low)}, {_fmt(self.high)}]{unit}{scale}"

    def canonical(self, value, where: str) -> Tensor:
        t = _as_float_tensor(value, where, self.name)
        if t.dim() == 2 and t.shape[1] == 1:
            t = t[:, 0]
        if t.dim() > 1:
            raise ValueError(f"{where}: {self.name} must be a number or a [B] tensor; got shape {tuple(t.shape)}")
        t = t.reshape(-1) if t.dim() == 0 else t
        bad = _outside(t, self.low, self.high)
        if bad.any():
            v = float(t[bad][0])
            raise ValueError(
                f"{where}: {self.name}={_fmt(v)} is outside the accepted range [{_fmt(self.low)}, {_fmt(self.high)}]"
            )
        return t

    def _warp(self, t: Tensor) -> Tensor:
        return t.log() if self.log else t

    def encode(self, t: Tensor) -> Tensor:
        lo, hi = (math.log(self.low), math.log(self.high)) if self.log else (self.low, self.high)
        return (2 * (self._warp(t) - lo) / (hi - lo) - 1)[:, None]

    def sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        u = torch.rand(n, generator=generator)
        if self.log:
            return torch.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)


@dataclass(frozen=True)
class ChoiceParam:
    """One of ``choices`` (given by name or index); canonical long ``[B]`` indices; sampled uniformly.

    Encoding (``len(choices)`` values): one-hot.
    """

    name: str
    choices: tuple[str, ...]
    doc: str
    unit: str = ""
    optional: bool = False

    @property
    def size(self) -> int:
        return len(self.choices)

    def accepted(self) -> str:
        return f"{self.name} one of {self.choices} (or index 0..{len(self.choices) - 1})"

    def _index(self, v, where: str) -> int:
        if isinstance(v, str) and v in self.choices:
            return self.choices.index(v)
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
        return torch.nn.functional.one_hot(t, len(self.choices)).to(torch.get_default_dtype())

    def sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        return torch.randint(len(self.choices), (n,), generator=generator)


@dataclass(frozen=True)
class VectorParam:
    """``size`` numbers each in ``[low, high]`` (e.g. a center); canonical ``[B, size]``; sampled uniformly.

    Encoding (``size`` values): the numbers mapped linearly from ``[low, high]`` to ``[-1, 1]``.
    """

    name: str
    size: int
    low: float
    high: float
    doc: str
    unit: str = ""
    optional: bool = False

    def accepted(self) -> str:
        unit = f" ({self.unit})" if self.unit else ""
        if math.isinf(self.low) and math.isinf(self.high):
            return f"{self.name}: {self.size} numbers{unit}"
        return f"{self.name}: {self.size} numbers in [{_fmt(self.low)}, {_fmt(self.high)}]{unit}"

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
        bad = _outside(t, self.low, self.high)
        if bad.any():
            v = float(t[bad][0])
            raise ValueError(
                f"{where}: {self.name} value {_fmt(v)} is outside the accepted range [{_fmt(self.low)}, "
                f"{_fmt(self.high)}]"
            )
        return t

    def encode(self, t: Tensor) -> Tensor:
        return 2 * (t - self.low) / (self.high - self.low) - 1

    def sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        return self.low + torch.rand(n, self.size, generator=generator) * (self.high - self.low)


@dataclass(frozen=True)
class BoxParam:
    """An axis-aligned box ``[min_0, ..., min_{d-1}, max_0, ..., max_{d-1}]`` inside ``[-bound, bound]^d`` whose
    sides ``max_i - min_i`` lie in ``[side_low, side_high]``; canonical ``[B, 2d]``.

    Sampled: each side uniform in ``[side_low, side_high]``, then the min corner uniform where the box fits.
    Encoding (``2d`` values): the corners divided by ``bound`` (in [-1, 1]).
    """

    name: str
    dim: int
    side_low: float
    side_high: float
    doc: str
    bound: float = 1.0
    unit: str = ""
    optional: bool = False

    @property
    def size(self) -> int:
        return 2 * self.dim

    def accepted(self) -> str:
        axes = "xyz"[: self.dim] if self.dim <= 3 else [f"x{i}" for i in range(self.dim)]
        corners = ", ".join([f"{a}min" for a in axes] + [f"{a}max" for a in axes])
        return (
            f"{self.name} [{corners}] with corners in [{_fmt(-self.bound)}, {_fmt(self.bound)}] and sides in "
            f"[{_fmt(self.side_low)}, {_fmt(self.side_high)}]"
        )

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
        bad = _outside(side, self.side_low, self.side_high)
        if bad.any():
            axis = int(bad.nonzero()[0, 1])
            raise ValueError(
                f"{where}: {self.name} side {axis} (max - min) = {_fmt(float(side[bad][0]))} is outside the accepted "
                f"range [{_fmt(self.side_low)}, {_fmt(self.side_high)}]"
            )
        return t

    def encode(self, t: Tensor) -> Tensor:
        return t / self.bound

    def sample(self, n: int, generator: torch.Generator | None) -> Tensor:
        side = self.side_low + torch.rand(n, self.dim, generator=generator) * (self.side_high - self.side_low)
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
