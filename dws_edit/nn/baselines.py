"""Baselines of the DWSNets paper, with the encoders' interface: ``encoder(ws) -> [B, embed_dim]``.

- ``FlatMLPEncoder``: an MLP on the flattened weights (``augment=True``: a fresh random permutation of
  the hidden neurons of every training input, the "MLP + augmentation" baseline).
- ``AlignedMLPEncoder``: the MLP on weights first aligned to a reference network by linear assignment.
- ``NeuronTransformerEncoder``: a Transformer over neuron tokens (a neuron's incoming weights and bias),
  with layer and position embeddings, so it is not permutation invariant by construction.
- ``INR2VecEncoder``: an inr2vec-style encoder: one shared MLP over every neuron's row, max-pooled.
- ``FlatMLPEditNet``: the MLP edit baseline: flat weights -> residual on flat weights.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dws_edit.nn.models import _mlp
from dws_edit.weights import NetworkSpec, WeightSpace, align_to_reference


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
        self.spec, self.embed_dim = spec, embed_dim
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

    def forward(self, ws: WeightSpace) -> Tensor:
        x = self.embed(neuron_tokens(ws, self.token_width)) + self.layer_embed(self.layer_ids) + self.position
        return self.head(self.encoder(x).mean(1))


class INR2VecEncoder(nn.Module):
    def __init__(self, spec: NetworkSpec, embed_dim: int = 64, hidden: int = 128, depth: int = 3):
        super().__init__()
        self.spec, self.embed_dim = spec, embed_dim
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

    def forward(self, ws: WeightSpace) -> Tensor:
        rows = neuron_tokens(ws, self.token_width)
        onehot = self.layer_onehot.to(rows.dtype).expand(rows.shape[0], -1, -1)
        return self.head(self.row_net(torch.cat([rows, onehot], dim=-1)).amax(dim=1))


class FlatMLPEditNet(nn.Module):
    """MLP edit baseline: ``ws + scale * MLP(flat(ws), cond)``, same call as ``DWSEditNet``."""

    def __init__(
        self, spec: NetworkSpec, hidden: int = 512, depth: int = 3, cond_dim: int = 0, init_scale: float = 1e-3
    ):
        super().__init__()
        self.spec, self.cond_dim = spec, cond_dim
        self.net = _mlp((spec.num_params + cond_dim,) + (hidden,) * (depth - 1) + (spec.num_params,))
        self.scale = nn.Parameter(torch.tensor(float(init_scale)))

    def forward(self, ws: WeightSpace, cond: Tensor | None = None) -> WeightSpace:
        x = _flat(ws)
        if self.cond_dim:
            if cond is None:
                raise ValueError(f"this edit model needs edit parameters: a tensor of shape [B, {self.cond_dim}]")
            x = torch.cat([x, cond], dim=-1)
        return ws + WeightSpace.from_flat(self.scale * self.net(x), ws.spec, check=False)
