"""DWSNet models: equivariant blocks, invariant pooling, classifier, encoder and the residual edit network."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dws_edit.nn.layer import DWSLayer, weight_space_slots
from dws_edit.weights import NetworkSpec, WeightSpace, WeightStats

# Features inside a stack of DWS layers stay in the layer's channels-last canonical form: a list of
# tensors [B, *hidden axes, fixed_size * C], one per weight-space tensor in flat order (see layer.py).
Features = list[Tensor]


class FeatureReLU(nn.Module):
    """Pointwise ReLU (pointwise maps are equivariant); in place on the layer's fresh outputs."""

    def forward(self, feats: Features) -> Features:
        return [torch.relu_(x) for x in feats]


class FeatureDropout(nn.Module):
    """Pointwise dropout; an identity in eval mode (``model.eval()``)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, feats: Features) -> Features:
        if not self.training or self.p == 0:
            return feats
        return [nn.functional.dropout(x, self.p, training=True) for x in feats]


class FeatureLayerNorm(nn.Module):
    """Normalise each tensor of each network over its entries and channels; per-channel affine.

    The statistics are sums over whole tensors, hence invariant, so the normalisation is equivariant.
    """

    def __init__(self, spec: NetworkSpec, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.slots = weight_space_slots(spec.num_layers, spec.layer_sizes[0], spec.layer_sizes[-1])
        self.scale = nn.Parameter(torch.ones(len(self.slots), channels))
        self.shift = nn.Parameter(torch.zeros(len(self.slots), channels))

    def forward(self, feats: Features) -> Features:
        out = []
        for k, (s, x) in enumerate(zip(self.slots, feats)):
            normed = nn.functional.layer_norm(x, x.shape[1:], eps=self.eps)  # one fused kernel
            out.append(torch.addcmul(self.shift[k].repeat(s.fixed_size), normed, self.scale[k].repeat(s.fixed_size)))
        return out


class DWSBlocks(nn.Module):
    """A stack of DWS layers with ReLU (and optional normalisation / dropout) between them.

    ``channels = (c_in, c_1, ..., c_out)``; no nonlinearity after the last layer. ``cond_dim`` feeds a
    conditioning vector into every layer. Converts to the canonical form once, not per layer.
    """

    def __init__(
        self,
        spec: NetworkSpec,
        channels: tuple[int, ...],
        norm: bool = False,
        dropout: float = 0.0,
        cond_dim: int = 0,
    ):
        super().__init__()
        self.layers = nn.ModuleList(DWSLayer(spec, a, b, cond_dim) for a, b in zip(channels[:-1], channels[1:]))
        between = []
        for c in channels[1:-1]:
            parts: list[nn.Module] = [FeatureLayerNorm(spec, c)] if norm else []
            parts.append(FeatureReLU())
            if dropout:
                parts.append(FeatureDropout(dropout))
            between.append(nn.Sequential(*parts))
        self.between = nn.ModuleList(between)
        self.cond_dim = cond_dim

    def features(self, ws: WeightSpace, cond: Tensor | None = None) -> Features:
        """Run the stack and return the last layer's output in canonical form."""
        self.layers[0].check_input(ws)
        feats = self.layers[0].canonical(ws)
        for k, layer in enumerate(self.layers):
            feats = layer.forward_canonical(feats, cond)
            if k < len(self.between):
                feats = self.between[k](feats)
        return feats

    def forward(self, ws: WeightSpace, cond: Tensor | None = None) -> WeightSpace:
        return self.layers[-1].from_canonical(self.features(ws, cond), ws.spec)


class InvariantPool(nn.Module):
    """Mean over every hidden axis, keeping the unpermuted axes (layer 0's inputs, layer L's outputs).

    This is the complete invariant linear map of a weight space; it maps canonical features to
    [B, out_features].
    """

    def __init__(self, spec: NetworkSpec, channels: int):
        super().__init__()
        self.slots = weight_space_slots(spec.num_layers, spec.layer_sizes[0], spec.layer_sizes[-1])
        self.out_features = channels * sum(s.fixed_size for s in self.slots)

    def forward(self, feats: Features) -> Tensor:
        return torch.cat([x.mean(tuple(range(1, x.dim() - 1))) if x.dim() > 2 else x for x in feats], dim=1)


def _mlp(sizes: tuple[int, ...], dropout: float = 0.0) -> nn.Sequential:
    parts: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        parts.append(nn.Linear(a, b))
        if k < len(sizes) - 2:
            parts.append(nn.ReLU())
            if dropout:
                parts.append(nn.Dropout(dropout))
    return nn.Sequential(*parts)


class _Normalised(nn.Module):
    """Holds optional per-tensor weight statistics as buffers and normalises inputs with them."""

    def set_stats(self, stats: WeightStats | None) -> None:
        self._stats = stats

    def normalise(self, ws: WeightSpace) -> WeightSpace:
        stats = getattr(self, "_stats", None)
        return ws if stats is None else stats.normalize(ws)


class DWSEncoder(_Normalised):
    """Invariant embedding of an INR: DWS layers -> invariant pooling -> MLP."""

    def __init__(
        self,
        spec: NetworkSpec,
        embed_dim: int = 64,
        hidden: int = 32,
        depth: int = 4,
        head_hidden: int = 128,
        norm: bool = False,
        dropout: float = 0.0,
        in_channels: int = 1,
    ):
        super().__init__()
        self.spec = spec
        self.blocks = DWSBlocks(spec, (in_channels,) + (hidden,) * depth, norm=norm, dropout=dropout)
        self.pool = InvariantPool(spec, hidden)
        self.head = _mlp((self.pool.out_features, head_hidden, embed_dim), dropout)
        self.embed_dim = embed_dim

    def forward(self, ws: WeightSpace) -> Tensor:
        feats = self.blocks.features(self.normalise(ws))
        return self.head(self.pool([torch.relu(x) for x in feats]))


class DWSClassifier(DWSEncoder):
    """Invariant classifier of INRs: a ``DWSEncoder`` whose embedding is the class logits."""

    def __init__(self, spec: NetworkSpec, num_classes: int = 10, **kwargs):
        super().__init__(spec, embed_dim=num_classes, **kwargs)
        self.num_classes = num_classes


class DWSEditNet(_Normalised):
    """Equivariant map of INR weights to edited INR weights: ``ws + scale * f(ws, cond)``.

    ``f`` is a stack of DWS layers ending in one channel; ``scale`` is a learned scalar per tensor that
    starts small, so the untrained net is close to the identity edit. ``cond`` [B, cond_dim] carries
    edit parameters into every layer.
    """

    def __init__(
        self,
        spec: NetworkSpec,
        hidden: int = 32,
        depth: int = 4,
        cond_dim: int = 0,
        norm: bool = False,
        dropout: float = 0.0,
        init_scale: float = 1e-3,
    ):
        super().__init__()
        self.spec = spec
        self.cond_dim = cond_dim
        self.blocks = DWSBlocks(spec, (1,) + (hidden,) * depth + (1,), norm=norm, dropout=dropout, cond_dim=cond_dim)
        self.scale = nn.Parameter(torch.full((2 * spec.num_layers,), float(init_scale)))

    def forward(self, ws: WeightSpace, cond: Tensor | None = None) -> WeightSpace:
        if self.cond_dim and cond is None:
            raise ValueError(f"this edit model needs edit parameters: a tensor of shape [B, {self.cond_dim}]")
        delta = self.blocks(self.normalise(ws), cond)
        stats = getattr(self, "_stats", None)
        if stats is not None:  # the residual lives in normalised units: scale it back per tensor
            delta = stats.scale(delta)
        s = self.scale
        return WeightSpace(
            ws.spec,
            tuple(w + s[2 * i] * d for i, (w, d) in enumerate(zip(ws.weights, delta.weights))),
            tuple(b + s[2 * i + 1] * d for i, (b, d) in enumerate(zip(ws.biases, delta.biases))),
        )
