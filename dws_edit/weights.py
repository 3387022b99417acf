"""The weight space of an MLP: its shape (``NetworkSpec``) and a batch of its points (``WeightSpace``).

Layout follows PyTorch's ``nn.Linear``: ``weights[i]`` is ``[B, C, d_{i+1}, d_i]`` and ``biases[i]`` is
``[B, C, d_{i+1}]``, where B is the batch of networks and C the feature channels (1 for raw weights).
The symmetry group permutes the neurons of every hidden layer independently; the input features
(layer 0) and output features (layer L) are never permuted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn

ACTIVATIONS = ("sine", "relu", "identity")


@dataclass(frozen=True)
class NetworkSpec:
    """Shape and function of an MLP: ``layer_sizes = (d0, d1, ..., dL)`` plus how it is evaluated.

    ``activation`` is applied after every layer but the last; for ``"sine"`` it is ``sin(w0 * x)``
    (a SIREN). ``output_offset`` is added to the last layer's output.
    """

    layer_sizes: tuple[int, ...]
    activation: str = "sine"
    w0: float = 30.0
    output_offset: float = 0.0

    def __post_init__(self) -> None:
        sizes = tuple(int(d) for d in self.layer_sizes)
        if len(sizes) < 2 or any(d < 1 for d in sizes):
            raise ValueError(
                f"NetworkSpec.layer_sizes must hold at least two positive sizes (d0, ..., dL); got {self.layer_sizes!r}"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"NetworkSpec.activation {self.activation!r} is not one of {ACTIVATIONS}")
        if not math.isfinite(self.w0) or (self.activation == "sine" and self.w0 <= 0):
            raise ValueError(
                f"NetworkSpec.w0 = {self.w0!r}: a sine network needs a finite w0 > 0 (the SIREN frequency: 30 for "
                "images, 15 for SDFs and fields)"
            )
        if not math.isfinite(self.output_offset):
            raise ValueError(f"NetworkSpec.output_offset = {self.output_offset!r} must be finite")
        object.__setattr__(self, "layer_sizes", sizes)

    @property
    def num_layers(self) -> int:
        return len(self.layer_sizes) - 1

    @property
    def weight_shapes(self) -> tuple[tuple[int, int], ...]:
        s = self.layer_sizes
        return tuple((s[i + 1], s[i]) for i in range(self.num_layers))

    @property
    def bias_shapes(self) -> tuple[tuple[int], ...]:
        return tuple((d,) for d in self.layer_sizes[1:])

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return self.layer_sizes[1:-1]

    @property
    def num_params(self) -> int:
        return sum(o * i + o for o, i in self.weight_shapes)

    def same_shape(self, other: NetworkSpec) -> bool:
        return self.layer_sizes == other.layer_sizes

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> NetworkSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown NetworkSpec fields {sorted(unknown)}; accepted: {sorted(known)}")
        return cls(**{k: tuple(v) if k == "layer_sizes" else v for k, v in data.items()})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> NetworkSpec:
        return cls.from_dict(json.loads(text))


def _describe(t: Tensor) -> str:
    return f"{tuple(t.shape)}"


@dataclass(frozen=True)
class WeightSpace:
    """An immutable batch of MLP weights (or of features living on them), checked against its spec."""

    spec: NetworkSpec
    weights: tuple[Tensor, ...]
    biases: tuple[Tensor, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", tuple(self.weights))
        object.__setattr__(self, "biases", tuple(self.biases))
        L = self.spec.num_layers
        if len(self.weights) != L or len(self.biases) != L:
            raise ValueError(
                f"spec {self.spec.layer_sizes} has {L} layers but got {len(self.weights)} weight and "
                f"{len(self.biases)} bias tensors"
            )
        B, C = self.weights[0].shape[:2] if self.weights[0].dim() == 4 else (None, None)
        for i, (w, b, (o, n)) in enumerate(zip(self.weights, self.biases, self.spec.weight_shapes)):
            if w.dim() != 4 or tuple(w.shape[2:]) != (o, n) or (B, C) != tuple(w.shape[:2]):
                raise ValueError(
                    f"layer {i} weight has shape {_describe(w)}; spec {self.spec.layer_sizes} expects "
                    f"[B, C, {o}, {n}] with B={B}, C={C} as in layer 0"
                )
            if b.dim() != 3 or tuple(b.shape) != (B, C, o):
                raise ValueError(
                    f"layer {i} bias has shape {_describe(b)}; spec {self.spec.layer_sizes} expects [{B}, {C}, {o}]"
                )

    # ------------------------------------------------------------------ basic facts
    @property
    def batch_size(self) -> int:
        return self.weights[0].shape[0]

    @property
    def channels(self) -> int:
        return self.weights[0].shape[1]

    @property
    def dtype(self) -> torch.dtype:
        return self.weights[0].dtype

    @property
    def device(self) -> torch.device:
        return self.weights[0].device

    def __len__(self) -> int:
        return self.batch_size

    def tensors(self) -> tuple[Tensor, ...]:
        """All tensors in flat order: W_1, b_1, W_2, b_2, ..."""
        return tuple(t for pair in zip(self.weights, self.biases) for t in pair)

    def check_finite(self) -> WeightSpace:
        """Raise ValueError naming the first tensor holding NaN or Inf; return self otherwise."""
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            for name, t in (("weight", w), ("bias", b)):
                bad = ~torch.isfinite(t)
                if bad.any():
                    n_nan = int(torch.isnan(t).sum())
                    raise ValueError(
                        f"layer {i} {name} {_describe(t)} holds {n_nan} NaN and {int(bad.sum()) - n_nan} Inf "
                        "values; weights must be finite"
                    )
        return self

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_tensors(cls, spec: NetworkSpec, weights: Sequence[Tensor], biases: Sequence[Tensor]) -> WeightSpace:
        """Build from user tensors, checking shapes and finiteness (the API boundary)."""
        return cls(spec, tuple(weights), tuple(biases)).check_finite()

    @classmethod
    def zeros(cls, spec: NetworkSpec, batch: int = 1, channels: int = 1, **kw) -> WeightSpace:
        ws = tuple(torch.zeros(batch, channels, o, n, **kw) for o, n in spec.weight_shapes)
        bs = tuple(torch.zeros(batch, channels, o, **kw) for (o,) in spec.bias_shapes)
        return cls(spec, ws, bs)

    @classmethod
    def randn(cls, spec: NetworkSpec, batch: int = 1, channels: int = 1, generator=None, **kw) -> WeightSpace:
        ws = tuple(torch.randn(batch, channels, o, n, generator=generator, **kw) for o, n in spec.weight_shapes)
        bs = tuple(torch.randn(batch, channels, o, generator=generator, **kw) for (o,) in spec.bias_shapes)
        return cls(spec, ws, bs)

    def flatten(self) -> Tensor:
        """[B, C, P] in the order W_1 (row-major), b_1, W_2, b_2, ..."""
        B, C = self.batch_size, self.channels
        return torch.cat([t.reshape(B, C, -1) for t in self.tensors()], dim=-1)

    @classmethod
    def from_flat(cls, x: Tensor, spec: NetworkSpec, check: bool = True) -> WeightSpace:
        """Inverse of ``flatten``; accepts [P], [B, P] or [B, C, P]. ``check``: reject NaN/Inf."""
        if x.dim() == 1:
            x = x[None, None]
        elif x.dim() == 2:
            x = x[:, None]
        if x.dim() != 3 or x.shape[-1] != spec.num_params:
            raise ValueError(
                f"flat weights of shape {tuple(x.shape)} do not fit spec {spec.layer_sizes}: expected "
                f"[..., {spec.num_params}] ([P], [B, P] or [B, C, P])"
            )
        B, C = x.shape[:2]
        ws, bs, start = [], [], 0
        for o, n in spec.weight_shapes:
            ws.append(x[..., start : start + o * n].reshape(B, C, o, n))
            start += o * n
            bs.append(x[..., start : start + o])
            start += o
        out = cls(spec, tuple(ws), tuple(bs))
        return out.check_finite() if check else out

    @classmethod
    def from_linears(cls, linears: Iterable[nn.Linear], spec: NetworkSpec | None = None) -> WeightSpace:
        """One network from its ``nn.Linear`` layers (B = C = 1)."""
        linears = list(linears)
        if spec is None:
            spec = NetworkSpec((linears[0].in_features, *[lin.out_features for lin in linears]))
        if len(linears) != spec.num_layers:
            raise ValueError(f"got {len(linears)} nn.Linear layers; spec {spec.layer_sizes} has {spec.num_layers}")
        ws, bs = [], []
        for i, lin in enumerate(linears):
            if lin.bias is None:
                raise ValueError(f"layer {i} nn.Linear has no bias; dws-edit networks have a bias in every layer")
            ws.append(lin.weight.detach()[None, None])
            bs.append(lin.bias.detach()[None, None])
        return cls.from_tensors(spec, ws, bs)

    def to_linears(self, index: int = 0) -> list[nn.Linear]:
        """Network ``index`` of the batch (channel 0) as ``nn.Linear`` layers."""
        out = []
        for w, b in zip(self.weights, self.biases):
            lin = nn.Linear(w.shape[-1], w.shape[-2], dtype=w.dtype, device=w.device)
            with torch.no_grad():
                lin.weight.copy_(w[index, 0])
                lin.bias.copy_(b[index, 0])
            out.append(lin)
        return out

    def to_state_dict(self, prefix: str = "layers") -> dict[str, Tensor]:
        """``{prefix}.{i}.weight``: [B, C, o, n], ``{prefix}.{i}.bias``: [B, C, o]."""
        sd = {}
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            sd[f"{prefix}.{i}.weight"] = w
            sd[f"{prefix}.{i}.bias"] = b
        return sd

    @classmethod
    def from_state_dict(cls, sd: dict[str, Tensor], spec: NetworkSpec, prefix: str = "layers") -> WeightSpace:
        """Accepts batched tensors ([B, C, o, n]) or those of one network ([o, n], as nn.Linear stores them)."""
        ws, bs = [], []
        for i in range(spec.num_layers):
            for name, store, full_dim in (("weight", ws, 4), ("bias", bs, 3)):
                key = f"{prefix}.{i}.{name}"
                if key not in sd:
                    raise ValueError(
                        f"state dict lacks {key!r}; spec {spec.layer_sizes} needs {prefix}.0..{spec.num_layers - 1}"
                    )
                t = sd[key]
                while t.dim() < full_dim:
                    t = t[None]
                store.append(t)
        return cls.from_tensors(spec, ws, bs)

    # ------------------------------------------------------------------ elementwise arithmetic
    def map(self, fn: Callable[[Tensor], Tensor]) -> WeightSpace:
        return WeightSpace(self.spec, tuple(fn(w) for w in self.weights), tuple(fn(b) for b in self.biases))

    def zip_map(self, other: WeightSpace, fn: Callable[[Tensor, Tensor], Tensor]) -> WeightSpace:
        if not self.spec.same_shape(other.spec):
            raise ValueError(f"weight spaces of specs {self.spec.layer_sizes} and {other.spec.layer_sizes} differ")
        return WeightSpace(
            self.spec,
            tuple(fn(a, b) for a, b in zip(self.weights, other.weights)),
            tuple(fn(a, b) for a, b in zip(self.biases, other.biases)),
        )

    def _binary(self, other, fn):
        if isinstance(other, WeightSpace):
            return self.zip_map(other, fn)
        return self.map(lambda t: fn(t, other))

    def __add__(self, other):
        return self._binary(other, torch.add)

    __radd__ = __add__

    def __sub__(self, other):
        return self._binary(other, torch.sub)

    def __rsub__(self, other):
        return self.map(lambda t: other - t)

    def __mul__(self, other):
        return self._binary(other, torch.mul)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self._binary(other, torch.div)

    def __neg__(self):
        return self.map(torch.neg)

    def to(self, *args, **kwargs) -> WeightSpace:
        return self.map(lambda t: t.to(*args, **kwargs))

    def detach(self) -> WeightSpace:
        return self.map(Tensor.detach)

    def __getitem__(self, index) -> WeightSpace:
        """Select networks of the batch (an int keeps the batch axis)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return self.map(lambda t: t[index])

    @staticmethod
    def cat(items: Sequence[WeightSpace], dim: int = 0) -> WeightSpace:
        """Concatenate along the batch (dim=0) or the channel axis (dim=1)."""
        spec = items[0].spec
        for it in items[1:]:
            if not spec.same_shape(it.spec):
                raise ValueError(
                    f"cannot concatenate weight spaces of specs {spec.layer_sizes} and {it.spec.layer_sizes}"
                )
        return WeightSpace(
            spec,
            tuple(torch.cat(ts, dim) for ts in zip(*[it.weights for it in items])),
            tuple(torch.cat(ts, dim) for ts in zip(*[it.biases for it in items])),
        )

    def with_spec(self, spec: NetworkSpec) -> WeightSpace:
        """Same tensors under a spec of the same shape (e.g. another w0 or output offset)."""
        return WeightSpace(spec, self.weights, self.biases)

    # ------------------------------------------------------------------ symmetry
    def permute(self, perms: Sequence[Tensor]) -> WeightSpace:
        """Apply one permutation per hidden layer: neuron ``perms[k][j]`` of hidden layer k+1 moves to j.

        Each permutation is [d] (the same for the whole batch) or [B, d] (one per network).
        """
        hidden = self.spec.hidden_sizes
        if len(perms) != len(hidden):
            raise ValueError(f"need one permutation per hidden layer ({len(hidden)}), got {len(perms)}")
        ws, bs = list(self.weights), list(self.biases)
        for k, p in enumerate(perms):
            if p.shape[-1] != hidden[k]:
                raise ValueError(
                    f"permutation {k} has length {p.shape[-1]}; hidden layer {k + 1} has {hidden[k]} neurons"
                )
            ws[k] = _take(ws[k], p, dim=2)
            bs[k] = _take(bs[k], p, dim=2)
            ws[k + 1] = _take(ws[k + 1], p, dim=3)
        return WeightSpace(self.spec, tuple(ws), tuple(bs))

    def flip_signs(self, signs: Sequence[Tensor]) -> WeightSpace:
        """Negate hidden neurons where ``signs[k][b, j]`` ([B, d] of +-1) is -1: in-weights, bias, out-weights. For an
        odd activation (sine, identity) the function is unchanged: the sign symmetry beside the permutations (Navon
        et al. 2023, DWSNets). Raises ValueError for ReLU networks (not odd) or shapes that do not fit."""
        if self.spec.activation == "relu":
            raise ValueError("flip_signs: ReLU is not odd (relu(-z) != -relu(z)); accepted: sine or identity networks")
        hidden = self.spec.hidden_sizes
        if len(signs) != len(hidden) or any(s.shape != (self.batch_size, d) for s, d in zip(signs, hidden)):
            raise ValueError(f"flip_signs: need one [B, d] sign tensor per hidden layer {hidden}, B={self.batch_size}")
        ws, bs = list(self.weights), list(self.biases)
        for k, s in enumerate(s.to(ws[0]) for s in signs):
            ws[k], bs[k] = ws[k] * s[:, None, :, None], bs[k] * s[:, None, :]
            ws[k + 1] = ws[k + 1] * s[:, None, None, :]
        return WeightSpace(self.spec, tuple(ws), tuple(bs))

    def random_permutations(self, generator: torch.Generator | None = None, per_network: bool = True) -> list[Tensor]:
        B = self.batch_size if per_network else None
        out = []
        for d in self.spec.hidden_sizes:
            if B is None:
                out.append(torch.randperm(d, generator=generator))
            else:
                out.append(torch.argsort(torch.rand(B, d, generator=generator), dim=1))
        return [p.to(self.device) for p in out]


def _take(t: Tensor, perm: Tensor, dim: int) -> Tensor:
    """Index ``t`` along ``dim`` by ``perm`` ([d] shared, or [B, d] per batch element)."""
    if perm.dim() == 1:
        return t.index_select(dim, perm)
    shape = [perm.shape[0]] + [1] * (t.dim() - 1)
    shape[dim] = perm.shape[1]
    index = perm.reshape(shape).expand(*t.shape[:dim], perm.shape[1], *t.shape[dim + 1 :])
    return torch.gather(t, dim, index)


def concat_networks(networks: Sequence[WeightSpace], coefficients: Sequence[float | Tensor]) -> WeightSpace:
    """One network computing ``sum_j c_j f_j(x)``: the hidden neurons of all networks side by side.

    Exact: the first layer's rows are stacked, hidden-to-hidden weights are block-diagonal, the last
    layer's columns are scaled by ``c_j`` and its biases combined, so the result's hidden widths are
    the sums of the inputs' widths. The networks must share depth, d0, dL, activation, w0 and output
    offset (hidden widths may differ) and batch size; each ``c_j`` is a float or a tensor [B].
    The blend of two INRs and the averaged outputs of an edit model's k channels are this map.

    Raises ValueError for incompatible networks or a coefficient count that differs from theirs.
    """
    first = networks[0]
    spec = first.spec
    if len(coefficients) != len(networks):
        raise ValueError(f"got {len(networks)} networks but {len(coefficients)} coefficients")
    for net in networks[1:]:
        s = net.spec
        same = (s.num_layers, s.layer_sizes[0], s.layer_sizes[-1], s.activation, s.w0, s.output_offset) == (
            spec.num_layers, spec.layer_sizes[0], spec.layer_sizes[-1], spec.activation, spec.w0, spec.output_offset
        )  # fmt: skip
        if not same or net.batch_size != first.batch_size or net.channels != first.channels:
            raise ValueError(
                f"cannot combine networks of specs {spec} and {s} (batch {first.batch_size} and {net.batch_size}): "
                "depth, d0, dL, activation, w0, output offset and batch must agree; hidden widths may differ"
            )
    coef = [torch.as_tensor(c, dtype=first.dtype, device=first.device).reshape(-1, 1, 1) for c in coefficients]
    L = spec.num_layers
    if L == 1:  # no hidden neurons: a linear map, combined directly
        w = sum(c[..., None] * n.weights[0] for c, n in zip(coef, networks))
        b = sum(c * n.biases[0] for c, n in zip(coef, networks))
        total = sum(coef)
        return WeightSpace(spec, (w,), (b + (total - 1) * spec.output_offset,))
    weights, biases = [], []
    for i in range(L):
        if i == 0:
            weights.append(torch.cat([n.weights[0] for n in networks], dim=2))
            biases.append(torch.cat([n.biases[0] for n in networks], dim=2))
        elif i < L - 1:
            weights.append(_block_diagonal([n.weights[i] for n in networks]))
            biases.append(torch.cat([n.biases[i] for n in networks], dim=2))
        else:
            weights.append(torch.cat([c[..., None] * n.weights[i] for c, n in zip(coef, networks)], dim=3))
            total = sum(coef)  # sum_j c_j (b_j + offset) = sum_j c_j b_j + offset + (sum_j c_j - 1) offset
            b = sum(c * n.biases[i] for c, n in zip(coef, networks)) + (total - 1) * spec.output_offset
            biases.append(b)
    sizes = [spec.layer_sizes[0]] + [sum(n.spec.layer_sizes[k] for n in networks) for k in range(1, L)]
    wide = NetworkSpec((*sizes, spec.layer_sizes[-1]), spec.activation, spec.w0, spec.output_offset)
    return WeightSpace(wide, tuple(weights), tuple(biases))


def _block_diagonal(blocks: Sequence[Tensor]) -> Tensor:
    """[B, C, o_j, n_j] blocks -> [B, C, sum o_j, sum n_j] with the blocks on the diagonal."""
    B, C = blocks[0].shape[:2]
    out = blocks[0].new_zeros(B, C, sum(b.shape[2] for b in blocks), sum(b.shape[3] for b in blocks))
    r = c = 0
    for blk in blocks:
        out[:, :, r : r + blk.shape[2], c : c + blk.shape[3]] = blk
        r, c = r + blk.shape[2], c + blk.shape[3]
    return out


__all__ = ["NetworkSpec", "WeightSpace", "concat_networks"]
