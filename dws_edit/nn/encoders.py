"""Encoders of whole INRs (``encoder(ws) -> [B, embed_dim]``) for the validation and pretraining tasks
(classification, self-supervised embeddings): the invariant DWS encoder and the DWSNets paper's baselines behind one
front (the input's dtype, the optional canonical sign of sine networks, the training zoo's normalization).

``ENCODERS`` names them as the task commands do: ``dws`` (DWS layers, invariant pooling, MLP head; Navon et al.
2023), ``mlp`` (an MLP on the flat weights), ``mlp-aug`` (the same with a fresh permutation of the hidden neurons of
every training input), ``mlp-align`` (the MLP on weights aligned to one reference network by linear assignment),
``transformer`` (a Transformer over neuron tokens), ``inr2vec`` (one shared MLP over neurons, max-pooled).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dws_edit.inr import evaluate
from dws_edit.inr.siren import canonical_signs
from dws_edit.nn.baselines import AlignedMLPEncoder, FlatMLPEncoder, INR2VecEncoder, NeuronTransformerEncoder
from dws_edit.nn.models import DWSBlocks, InvariantPool, _mlp, _Normalized
from dws_edit.nn.probes import ProbeFeatures, probe_grid
from dws_edit.weights import NetworkSpec, WeightSpace

ENCODERS = ("dws", "mlp", "mlp-aug", "mlp-align", "transformer", "inr2vec")
"""The weight-space encoders a task trains side by side, the DWS model first (the DWSNets paper's set)."""
FUNCTION_BASELINES = ("probe-mlp",)
"""Encoders of the INR's function alone, not its weights: ``probe-mlp``, an MLP on the INR's values at the DWS
model's probe points (what its probe features see of the function: a rendering at probes^d0 points)."""


class _Front(_Normalized):
    """The input side every encoder shares: own dtype, then the canonical sign (``signs``), then normalization."""

    def __init__(self, spec: NetworkSpec, signs: bool, in_channels: int = 1):
        super().__init__(spec, in_channels)
        self.spec, self.signs = spec, signs

    def prepare(self, ws: WeightSpace) -> WeightSpace:
        """``ws`` [B, C, ...] of any floating dtype -> normalized weights in the model's dtype."""
        ws = self.own_dtype(ws)
        return self.normalize(canonical_signs(ws) if self.signs else ws)


class DWSEncoder(_Front):
    """Invariant embedding of an INR: DWS layers -> invariant pooling -> MLP (DWSNets' invariant model).

    ``signs``: fix the sign of every hidden neuron first (:func:`dws_edit.inr.siren.canonical_signs`), so that the
    model is invariant to the sign symmetry of sine networks as well. ``probes``: probe points per axis whose hidden
    activations add per-neuron features to the first layer (:class:`dws_edit.nn.probes.ProbeFeatures`) and whose
    INR outputs join the pooled features (0: weights only), on a grid over [-probe_extent, probe_extent]^d0 (the
    INRs' domain)."""

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
        signs: bool = False,
        probes: int = 0,
        probe_extent: float = 1.0,
    ):
        super().__init__(spec, signs, in_channels)
        self.blocks = DWSBlocks(spec, (in_channels,) + (hidden,) * depth, norm=norm, dropout=dropout)
        self.pool = InvariantPool(spec, hidden)
        self.probes = ProbeFeatures(spec, probes, hidden, extent=probe_extent) if probes else None
        extra = self.probes.out_features if probes else 0
        self.head = _mlp((self.pool.out_features + extra, head_hidden, embed_dim), dropout)
        self.embed_dim = embed_dim

    def forward(self, ws: WeightSpace) -> Tensor:
        """``ws`` [B, C, ...] of any floating dtype (``own_dtype``) -> the embedding [B, embed_dim]."""
        ws = self.own_dtype(ws)
        raw = canonical_signs(ws) if self.signs else ws
        terms, outputs = self.probes(raw, None) if self.probes is not None else (None, None)
        feats = self.blocks.features(self.normalize(raw), extra=terms)
        pooled = self.pool([torch.relu(x) for x in feats])
        return self.head(pooled if outputs is None else torch.cat([pooled, outputs.to(pooled.dtype)], dim=1))


class DWSClassifier(DWSEncoder):
    """Invariant classifier of INRs: a ``DWSEncoder`` whose embedding is the class logits [B, num_classes]."""

    def __init__(self, spec: NetworkSpec, num_classes: int = 10, **kwargs):
        super().__init__(spec, embed_dim=num_classes, **kwargs)
        self.num_classes = num_classes


class BaselineEncoder(_Front):
    """One of the paper's baselines (``kind`` in ENCODERS, not ``dws``) behind the shared front.

    ``reference`` (raw weights, B = 1; ``mlp-align`` only): the network every input is aligned to; it is stored in the
    model's buffers, so the model needs it only when built, not when loaded. ``kwargs`` go to the baseline's module
    (``hidden``, ``depth``, ``dropout``, ...)."""

    def __init__(
        self,
        spec: NetworkSpec,
        kind: str,
        embed_dim: int = 64,
        signs: bool = False,
        reference: WeightSpace | None = None,
        **kwargs,
    ):
        super().__init__(spec, signs)
        self.kind, self.embed_dim = kind, embed_dim
        if kind in ("mlp", "mlp-aug"):
            self.body: nn.Module = FlatMLPEncoder(spec, embed_dim, augment=kind == "mlp-aug", **kwargs)
        elif kind == "mlp-align":
            ref = WeightSpace.zeros(spec) if reference is None else reference[:1].to(torch.float32)
            self.body = AlignedMLPEncoder(spec, (canonical_signs(ref) if signs else ref), embed_dim=embed_dim, **kwargs)
        elif kind == "transformer":
            self.body = NeuronTransformerEncoder(spec, embed_dim, **kwargs)
        elif kind == "inr2vec":
            self.body = INR2VecEncoder(spec, embed_dim, **kwargs)
        else:
            raise ValueError(f"encoder {kind!r}: accepted {', '.join(ENCODERS)}")

    def forward(self, ws: WeightSpace) -> Tensor:
        """``ws`` [B, C, ...] -> the embedding [B, embed_dim]."""
        return self.body(self.prepare(ws))


def build_encoder(
    kind: str,
    spec: NetworkSpec,
    embed_dim: int,
    *,
    hidden: int = 32,
    depth: int = 4,
    dropout: float = 0.0,
    signs: bool = False,
    probes: int = 0,
    probe_extent: float = 1.0,
    reference: WeightSpace | None = None,
) -> nn.Module:
    """The encoder ``kind`` (ENCODERS) of INRs of ``spec`` with output [B, embed_dim]. ``hidden``, ``depth``,
    ``probes``, ``probe_extent``: the DWS model's channels, layers, probe points per axis and their half-range (the
    baselines keep their own widths, as in the paper: the same data and steps, not the same size); ``dropout`` and
    ``signs`` apply to every encoder.
    Raises ValueError (one line) for an unknown kind, or probes asked of a baseline."""
    if kind == "dws":
        return DWSEncoder(spec, embed_dim, hidden=hidden, depth=depth, dropout=dropout, signs=signs, probes=probes,
                          probe_extent=probe_extent)  # fmt: skip
    if kind == "probe-mlp":
        return ProbeMLPEncoder(spec, embed_dim, probes, dropout=dropout, probe_extent=probe_extent)
    if probes:
        raise ValueError(f"probes {probes}: an option of the DWS encoder; the {kind} baseline takes weights only")
    kwargs = {"dropout": dropout} if kind != "inr2vec" else {}
    return BaselineEncoder(spec, kind, embed_dim, signs=signs, reference=reference, **kwargs)


class ProbeMLPEncoder(nn.Module):
    """The function-only baseline ``probe-mlp``: an MLP (``depth`` layers of ``hidden``) on the INR's values at
    ``probes``^d0 points of the DWS model's probe grid over [-probe_extent, probe_extent]^d0 (a rendering of the
    INR, blind to its weights: what the DWS model's probe features add, alone). Invariant to every symmetry of the
    weights. Raises ValueError for ``probes`` < 1."""

    def __init__(self, spec: NetworkSpec, embed_dim: int, probes: int, hidden: int = 256, depth: int = 3,
                 dropout: float = 0.0, probe_extent: float = 1.0):  # fmt: skip
        super().__init__()
        if probes < 1:
            raise ValueError(f"probes {probes}: the probe-mlp baseline reads the INR at probe points; give --probes")
        self.spec, self.embed_dim = spec, embed_dim
        self.register_buffer("points", probe_grid(spec.layer_sizes[0], probes, probe_extent), persistent=False)
        inputs = self.points.shape[0] * spec.layer_sizes[-1]
        self.net = _mlp((inputs,) + (hidden,) * (depth - 1) + (embed_dim,), dropout)

    def set_stats(self, stats: object) -> None:
        """The weight statistics the other encoders normalize by: unused (this model reads no weights)."""

    def forward(self, ws: WeightSpace) -> Tensor:
        """``ws`` [B, C, ...] of any floating dtype -> [B, embed_dim] from its values at the probe points."""
        values = evaluate(ws.to(torch.float32), self.points)  # [B, P, dL]
        return self.net(values.flatten(1).to(self.points.dtype))
