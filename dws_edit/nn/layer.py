"""The complete linear layer between deep weight spaces that is equivariant to hidden-neuron permutations.

How the layer is built. Every tensor of the weight space (W_i or b_i) has axes that live on neuron
layers. An axis on a hidden layer is permuted by the group; an axis on layer 0 or layer L is not, so it
behaves like a feature axis. Write each tensor in channels-last *canonical form* ``[B, *hidden axes, F]``,
where ``F = (product of its fixed axes) * channels``.

A linear map between permutation representations is equivariant exactly when it is a combination of
"identity on some shared hidden axes, sum over the rest": for an output tensor T and an input tensor U,
every hidden layer shared by T and U contributes either an identity (the axis is *kept*) or the
all-ones matrix (U is pooled over it and the result broadcast along T's axis); hidden axes of U alone
are pooled, hidden axes of T alone are broadcast; fixed axes are free (dense) and sit in F. Since no
tensor has two axes on the same layer, these choices are all independent, and the layer spans the
whole space of equivariant linear maps (tests/nn/test_layer.py checks its rank against an independent
count of orbits).

The efficient form groups the terms by the set S of output axes they keep: for each output tensor and
each S, the inputs that have all of S are pooled down to S, concatenated along F, mixed by ONE small
matrix, and broadcast back. Only S = all axes of the output runs at full size, and for a weight matrix
between two hidden layers that is a single channel mix of the same matrix. Parameters depend on the
depth, d0, dL and the channels, never on the hidden widths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import torch
from torch import Tensor, nn

from dws_edit.weights import NetworkSpec, WeightSpace


@dataclass(frozen=True)
class Slot:
    """One tensor of the weight space: ``kind`` 'W' or 'b' of layer ``index``; its axes' neuron layers."""

    kind: str
    index: int
    axes: tuple[int, ...]  # neuron layer of each tensor axis after [B, C]: (i+1, i) for W_i, (i+1,) for b_i
    hidden: tuple[int, ...]  # the axes (as neuron layers) that are permuted, in axis order
    fixed: tuple[int, ...]  # sizes of the axes that are not permuted, in axis order

    @property
    def name(self) -> str:
        return f"{self.kind}{self.index}"

    @property
    def fixed_size(self) -> int:
        return math.prod(self.fixed)


def weight_space_slots(spec: NetworkSpec) -> tuple[Slot, ...]:
    """The tensors of ``spec``'s weight space in flat order W_0, b_0, W_1, b_1, ...; layers 0 and L are fixed.

    Depends on the depth, d0 and dL only (never on the hidden widths)."""
    L, d_in, d_out = spec.num_layers, spec.layer_sizes[0], spec.layer_sizes[-1]

    def split(axes):
        hidden = tuple(a for a in axes if 0 < a < L)
        fixed = tuple(d_in if a == 0 else d_out for a in axes if a in (0, L))
        return hidden, fixed

    slots = []
    for i in range(L):
        for kind, axes in (("W", (i + 1, i)), ("b", (i + 1,))):
            slots.append(Slot(kind, i, axes, *split(axes)))
    return tuple(slots)


def _order(slot: Slot) -> tuple[list[int], list[int]]:
    hidden_pos = [p for p, a in enumerate(slot.axes) if a in slot.hidden]
    fixed_pos = [p for p, a in enumerate(slot.axes) if a not in slot.hidden]
    return hidden_pos, fixed_pos


def to_canonical(t: Tensor, slot: Slot) -> Tensor:
    """[B, C, *axes] -> channels-last canonical form [B, *hidden axes, fixed_size * C]."""
    hidden_pos, fixed_pos = _order(slot)
    order = [0] + [2 + p for p in hidden_pos] + [2 + p for p in fixed_pos] + [1]
    x = t.permute(order)
    return x.reshape(*x.shape[: 1 + len(hidden_pos)], -1)


def from_canonical(x: Tensor, slot: Slot, channels: int) -> Tensor:
    """Inverse of ``to_canonical``: [B, *hidden, fixed_size * C] -> [B, C, *axes]."""
    hidden_pos, fixed_pos = _order(slot)
    y = x.reshape(*x.shape[:-1], *slot.fixed, channels)
    current = hidden_pos + fixed_pos  # tensor axis held by each of y's dims after B, before C
    order = [0, y.dim() - 1] + [1 + current.index(p) for p in range(len(slot.axes))]
    return y.permute(order)


def _pool(x: Tensor, slot: Slot, keep: tuple[int, ...]) -> Tensor:
    """Mean of canonical ``x`` over the hidden axes of ``slot`` not in ``keep``.

    Sums, then divides the small result: the backward of a sum is a free broadcast view.
    """
    dims = [1 + p for p, a in enumerate(slot.hidden) if a not in keep]
    if not dims:
        return x
    count = math.prod([x.shape[d] for d in dims])
    return x.sum(dims) / count


def _expand_to(term: Tensor, out_hidden: tuple[int, ...], keep: tuple[int, ...]) -> Tensor:
    """View a term over the kept axes so it broadcasts against the output's hidden axes."""
    for p, a in enumerate(out_hidden):
        if a not in keep:
            term = term.unsqueeze(1 + p)
    return term


class DWSLayer(nn.Module):
    """Linear ``WeightSpace[C_in] -> WeightSpace[C_out]``, equivariant to hidden-neuron permutations.

    Complete (spans every equivariant linear map, all W/b blocks), width-agnostic (one set of
    parameters for any hidden widths with the same depth, d0 and dL), plus an invariant bias. An
    optional conditioning vector ``cond`` [B, cond_dim] adds a learned invariant bias per network and,
    with ``film=True``, also scales every output feature by ``1 + gamma(cond)`` (FiLM, Perez et al. 2018;
    gamma starts at 0): a multiplicative gate the additive bias cannot express, e.g. acting on one input
    coordinate's column of W_0 for one value of an axis parameter. Both are invariant in ``cond``, so the
    layer stays equivariant.
    """

    def __init__(self, spec: NetworkSpec, in_channels: int, out_channels: int, cond_dim: int = 0, film: bool = False):
        super().__init__()
        self.num_layers = spec.num_layers
        self.d_in, self.d_out = spec.layer_sizes[0], spec.layer_sizes[-1]
        self.in_channels, self.out_channels, self.cond_dim = in_channels, out_channels, cond_dim
        self.film = bool(film and cond_dim)
        self.slots = weight_space_slots(spec)
        # for each output slot: the kept sets S (largest first) and, for each, the inputs that have S
        self.plan: list[list[tuple[tuple[int, ...], list[Slot]]]] = []
        self.mix = nn.ParameterDict()
        self.bias = nn.ParameterDict()
        self.cond = nn.ModuleDict()
        self.gamma = nn.ModuleDict()
        for out in self.slots:
            f_out = out_channels * out.fixed_size
            terms = []
            for size in range(len(out.hidden), -1, -1):
                for keep in combinations(out.hidden, size):
                    inputs = [s for s in self.slots if set(keep) <= set(s.hidden)]
                    f_in = in_channels * sum(s.fixed_size for s in inputs)
                    terms.append((keep, inputs))
                    self.mix[self._key(out, keep)] = nn.Parameter(torch.empty(f_out, f_in))
            self.plan.append(terms)
            self.bias[out.name] = nn.Parameter(torch.zeros(f_out))
            if cond_dim:
                self.cond[out.name] = nn.Linear(cond_dim, f_out)
            if self.film:
                self.gamma[out.name] = nn.Linear(cond_dim, f_out)
                nn.init.zeros_(self.gamma[out.name].weight)
                nn.init.zeros_(self.gamma[out.name].bias)
            # He-uniform per term (ReLU gain), the variance shared among the terms of this output
            for keep, _ in terms:
                w = self.mix[self._key(out, keep)]
                bound = math.sqrt(6.0 / w.shape[1]) * math.sqrt(2.0 / len(terms))
                nn.init.uniform_(w, -bound, bound)

    @staticmethod
    def _key(out: Slot, keep: tuple[int, ...]) -> str:
        return f"{out.name}_keep" + "".join(f"_{a}" for a in keep)

    def check_input(self, ws: WeightSpace) -> None:
        s = ws.spec.layer_sizes
        if (len(s) - 1, s[0], s[-1]) != (self.num_layers, self.d_in, self.d_out) or ws.channels != self.in_channels:
            raise ValueError(
                f"DWSLayer built for {self.num_layers} layers, d0={self.d_in}, dL={self.d_out}, "
                f"{self.in_channels} channels; got spec {s} with {ws.channels} channels"
            )

    def forward(self, ws: WeightSpace, cond: Tensor | None = None) -> WeightSpace:
        self.check_input(ws)
        feats = self.forward_canonical(self.canonical(ws), cond)
        return self.from_canonical(feats, ws.spec)

    def canonical(self, ws: WeightSpace) -> list[Tensor]:
        """The weight space's tensors in channels-last canonical form, in slot order."""
        return [to_canonical(t, s) for s, t in zip(self.slots, ws.tensors())]

    def from_canonical(self, feats: list[Tensor], spec: NetworkSpec) -> WeightSpace:
        outs = [from_canonical(x, s, self.out_channels) for s, x in zip(self.slots, feats)]
        return WeightSpace(spec, tuple(outs[0::2]), tuple(outs[1::2]))

    def forward_canonical(self, feats: list[Tensor], cond: Tensor | None = None) -> list[Tensor]:
        """The layer on canonical features (see ``canonical``); stacks of layers stay in this form."""
        canon = {s.name: x for s, x in zip(self.slots, feats)}
        pooled: dict[tuple[str, tuple[int, ...]], Tensor] = {}

        def pool(s: Slot, keep: tuple[int, ...]) -> Tensor:
            key = (s.name, keep)
            if key not in pooled:
                if len(keep) < len(s.hidden) - 1:  # pool in steps, reusing the coarser pooled tensor
                    finer = tuple(a for a in s.hidden if a in keep or a == s.hidden[-1])
                    pooled[key] = _pool(pool(s, finer), _sub(s, finer), keep)
                else:
                    pooled[key] = _pool(canon[s.name], s, keep)
            return pooled[key]

        if self.cond_dim and cond is None:
            raise ValueError(f"this DWSLayer expects a conditioning vector of shape [B, {self.cond_dim}]")
        outputs = []
        for out, terms in zip(self.slots, self.plan):
            result = None
            partial: list[tuple[set[int], Tensor]] = []  # small terms, merged where one broadcasts into another
            for keep, inputs in terms:  # largest kept sets first
                weight = self.mix[self._key(out, keep)]
                x = torch.cat([pool(s, keep) for s in inputs], dim=-1) if len(inputs) > 1 else pool(inputs[0], keep)
                if not keep:
                    term = nn.functional.linear(x, weight, self.bias[out.name])
                    if self.cond_dim:
                        term = term + self.cond[out.name](cond)
                else:
                    term = nn.functional.linear(x, weight)
                if len(keep) == len(out.hidden):
                    result = term
                    continue
                term = _expand_to(term, out.hidden, keep)
                for k, (kept, acc) in enumerate(partial):
                    if set(keep) <= kept:
                        partial[k] = (kept, acc + term)
                        break
                else:
                    partial.append((set(keep), term))
            for _, acc in partial:  # in place: the full-size mix's backward does not need its output
                result = result.add_(acc)
            if self.film:
                gate = 1 + self.gamma[out.name](cond)
                result = result * gate.reshape(gate.shape[0], *(1,) * (result.dim() - 2), -1)
            outputs.append(result)
        return outputs

    def extra_repr(self) -> str:
        return (
            f"layers={self.num_layers}, d0={self.d_in}, dL={self.d_out}, "
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"cond_dim={self.cond_dim}, film={self.film}"
        )


def _sub(s: Slot, hidden: tuple[int, ...]) -> Slot:
    """The slot as seen after pooling it down to ``hidden`` axes (for stepwise pooling)."""
    return Slot(s.kind, s.index, s.axes, hidden, s.fixed)
