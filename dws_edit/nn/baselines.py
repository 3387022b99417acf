"""Baselines of the DWSNets paper, with the encoders' interface: ``encoder(ws) -> [B, embed_dim]``.

- ``FlatMLPEncoder``: an MLP on the flattened weights (``augment=True``: a fresh random permutation of
  the hidden neurons of every training input, the "MLP + augmentation" baseline).
- ``AlignedMLPEncoder``: the MLP on weights first aligned to a reference network by linear assignment.
- ``NeuronTransformerEncoder``: a Transformer over neuron tokens (a neuron's incoming weights and bias),
  with layer and position embeddings, so it is not permutation invariant by construction.
- ``INR2VecEncoder``: an inr2vec-style encoder: one shared MLP over every neuron's row, max-pooled.
- ``FlatMLPEditNet``: the MLP edit baseline: flat weights -> residual on flat weights.
- ``NeuronEditNet``: the Transformer and inr2vec-style edit baselines: a residual per neuron token.
- ``align_to_reference``: weight matching by linear assignment, used by ``AlignedMLPEncoder``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dws_edit.nn.models import EditNet, _mlp
from dws_edit.weights import NetworkSpec, WeightSpace


def _flat(ws: WeightSpace) -> Tensor:
    return ws.flatten().reshape(ws.batch_size, -1)


def neuron_tokens(ws: WeightSpace, width: int) -> Tensor:
    """One token per neuron of layers 1..L: its incoming weights zero-padded to ``width - 1``, then its bias."""
    rows = []
    for w, b in zip(ws.weights, ws.biases):
        w, b = w[:, 0], b[:, 0]
        rows.append(torch.cat([nn.functional.pad(w, (0, width - 1 - w.shape[-1])), b[..., None]], dim=-1))
    return torch.cat(rows, dim=1)  # [B, num_tokens, width]


class FlatMLPEncoder(nn.Module):
    def __init__(
        self,
        spec: NetworkSpec,
        embed_dim: int = 64,
        hidden: int = 256,
        depth: int = 3,
        dropout: float = 0.0,
        augment: bool = False,
        in_channels: int = 1,
    ):
        super().__init__()
        self.spec, self.augment, self.embed_dim = spec, augment, embed_dim
        self.net = _mlp((in_channels * spec.num_params,) + (hidden,) * (depth - 1) + (embed_dim,), dropout)

    def prepare(self, ws: WeightSpace) -> WeightSpace:
        if self.augment and self.training:
            ws = ws.permute(ws.random_permutations())
        return ws

    def forward(self, ws: WeightSpace) -> Tensor:
        return self.net(_flat(self.prepare(ws)))


class AlignedMLPEncoder(FlatMLPEncoder):
    """``reference``: one network (B = 1) every input is aligned to before the MLP."""

    def __init__(self, spec: NetworkSpec, reference: WeightSpace, **kwargs):
        super().__init__(spec, augment=False, **kwargs)
        self.register_buffer("reference", reference.flatten()[:1, :1].detach().clone())

    def prepare(self, ws: WeightSpace) -> WeightSpace:
        with torch.no_grad():
            ref = WeightSpace.from_flat(self.reference, self.spec)
            return align_to_reference(ws.detach(), ref.to(ws.dtype))


class NeuronTransformerEncoder(nn.Module):
    def __init__(
        self,
        spec: NetworkSpec,
        embed_dim: int = 64,
        d_model: int = 64,
        depth: int = 3,
        heads: int = 4,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.spec, self.embed_dim, self.token_features_dim = spec, embed_dim, d_model
        self.token_width = max(spec.layer_sizes[:-1]) + 1  # incoming weights padded, then the bias
        num_tokens = sum(spec.layer_sizes[1:])
        self.embed = nn.Linear(self.token_width, d_model)
        self.layer_embed = nn.Embedding(spec.num_layers, d_model)
        self.position = nn.Parameter(torch.randn(num_tokens, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, embed_dim)
        self.register_buffer(
            "layer_ids",
            torch.cat([torch.full((o,), i) for i, (o, _) in enumerate(spec.weight_shapes)]),
            persistent=False,
        )

    def token_features(self, ws: WeightSpace) -> Tensor:
        """The Transformer's output per neuron token: [B, num_tokens, d_model]."""
        x = self.embed(neuron_tokens(ws, self.token_width)) + self.layer_embed(self.layer_ids) + self.position
        return self.encoder(x)

    def forward(self, ws: WeightSpace) -> Tensor:
        return self.head(self.token_features(ws).mean(1))


class INR2VecEncoder(nn.Module):
    def __init__(self, spec: NetworkSpec, embed_dim: int = 64, hidden: int = 128, depth: int = 3):
        super().__init__()
        self.spec, self.embed_dim, self.token_features_dim = spec, embed_dim, hidden
        self.token_width = max(spec.layer_sizes[:-1]) + 1
        self.row_net = _mlp((self.token_width + spec.num_layers,) + (hidden,) * depth)
        self.head = _mlp((hidden, hidden, embed_dim))
        self.register_buffer(
            "layer_onehot",
            torch.cat(
                [
                    nn.functional.one_hot(torch.full((o,), i), spec.num_layers)
                    for i, (o, _) in enumerate(spec.weight_shapes)
                ]
            ).float(),
            persistent=False,
        )

    def token_features(self, ws: WeightSpace) -> Tensor:
        """The shared MLP's output per neuron token: [B, num_tokens, hidden]."""
        rows = neuron_tokens(ws, self.token_width)
        onehot = self.layer_onehot.to(rows.dtype).expand(rows.shape[0], -1, -1)
        return self.row_net(torch.cat([rows, onehot], dim=-1))

    def forward(self, ws: WeightSpace) -> Tensor:
        return self.head(self.token_features(ws).amax(dim=1))


class FlatMLPEditNet(EditNet):
    """MLP edit baseline: the residual is an MLP of the flattened (normalized) weights and the edit's
    parameters; same call, residual, statistics and ``outputs`` as ``DWSEditNet``. Not equivariant."""

    def __init__(
        self,
        spec: NetworkSpec,
        hidden: int = 512,
        depth: int = 3,
        cond_dim: int = 0,
        init_scale: float = 1e-3,
        outputs: int = 1,
        keep: bool = False,
    ):
        super().__init__(spec, cond_dim, outputs, init_scale, keep)
        self.net = _mlp((spec.num_params + cond_dim,) + (hidden,) * (depth - 1) + (outputs * spec.num_params,))

    def delta(self, ws: WeightSpace, cond: Tensor | None, raw=None, grad=None) -> WeightSpace:
        x = _flat(ws) if cond is None else torch.cat([_flat(ws), cond.to(ws.dtype)], dim=-1)
        out = self.net(x).reshape(ws.batch_size, self.outputs, self.spec.num_params)
        return WeightSpace.from_flat(out, ws.spec, check=False)


class NeuronEditNet(EditNet):
    """Per-neuron edit baselines (same call, residual and statistics as ``DWSEditNet``; not equivariant by
    construction): ``kind="transformer"``, each neuron token's Transformer output, or ``"inr2vec"``, each token's
    shared-MLP features next to their max-pool over all tokens, is mapped to that neuron's residual (its incoming
    weights and bias). Without edit parameters (``cond_dim`` 0) and one output network."""

    def __init__(self, spec: NetworkSpec, kind: str = "transformer", init_scale: float = 1e-3, **kwargs):
        super().__init__(spec, 0, 1, init_scale)
        self.kind = kind
        bodies = {"transformer": NeuronTransformerEncoder, "inr2vec": INR2VecEncoder}
        if kind not in bodies:
            raise ValueError(f"NeuronEditNet kind {kind!r}: accepted transformer, inr2vec")
        self.body = bodies[kind](spec, **kwargs)
        self.body.head.requires_grad_(False)  # the encoder's pooled head: not part of the edit (kept: state dicts)
        width = self.body.token_features_dim * (2 if kind == "inr2vec" else 1)  # inr2vec: the token and the max-pool
        self.out = _mlp((width, width, self.body.token_width))

    def delta(self, ws: WeightSpace, cond: Tensor | None, raw=None, grad=None) -> WeightSpace:
        feats = self.body.token_features(ws)
        if self.kind == "inr2vec":
            feats = torch.cat([feats, feats.amax(dim=1, keepdim=True).expand_as(feats)], dim=-1)
        return tokens_to_weights(self.out(feats), ws.spec)


def tokens_to_weights(tokens: Tensor, spec: NetworkSpec) -> WeightSpace:
    """The inverse of :func:`neuron_tokens`: tokens [B, num_tokens, width] -> a WeightSpace [B, 1, ...] of ``spec``
    (each neuron's incoming weights from the token's first entries, its bias from the last)."""
    weights, biases, at = [], [], 0
    for o, n in spec.weight_shapes:
        t = tokens[:, at : at + o]
        weights.append(t[..., :n][:, None])
        biases.append(t[..., -1][:, None])
        at += o
    return WeightSpace(spec, tuple(weights), tuple(biases))


def align_to_reference(ws: WeightSpace, reference: WeightSpace) -> WeightSpace:
    """Permute every network's hidden neurons to best match ``reference`` (one network), layer by layer.

    Weight matching: for hidden layer k, neurons are assigned by a linear assignment that maximises the
    inner product of their incoming weights and bias (with the previous layer already aligned), plus
    their outgoing weights when those reach the output layer. Used by the "MLP + alignment" baseline.
    """
    from scipy.optimize import linear_sum_assignment

    spec = ws.spec
    perms = [[] for _ in spec.hidden_sizes]
    ref_w = [w[0].double() for w in reference.weights]  # [C, o, n]
    ref_b = [b[0].double() for b in reference.biases]  # [C, o]
    for n in range(ws.batch_size):
        prev = None
        for k in range(len(spec.hidden_sizes)):
            w_in = ws.weights[k][n].double()
            if prev is not None:
                w_in = w_in.index_select(2, prev)
            b_in = ws.biases[k][n].double()
            w_out = ws.weights[k + 1][n].double()
            # similarity [d, d]: rows = reference neurons, cols = this network's neurons
            sim = torch.einsum("coi,cpi->op", ref_w[k], w_in) + torch.einsum("co,cp->op", ref_b[k], b_in)
            if k + 1 == spec.num_layers - 1:  # outgoing weights reach the (unpermuted) output layer
                sim = sim + torch.einsum("cjo,cjp->op", ref_w[k + 1], w_out)
            _, cols = linear_sum_assignment(sim.cpu().numpy(), maximize=True)
            prev = torch.as_tensor(cols, device=ws.device)
            perms[k].append(prev)
    return ws.permute([torch.stack(p) for p in perms]) if perms else ws
