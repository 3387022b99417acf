"""Probe features: what each hidden neuron of an INR computes, as input features of an edit model.

A DWS layer sees weights only, and must infer from them where in space each neuron acts. Probing gives
it that directly: the INR is evaluated at P fixed probe points spread over [-1, 1]^d0, and every hidden
neuron gets the vector of its P activations as a feature (the probe features of Neural Graphs, Kofinas
et al. 2024, which improved their INR editing; ScaleGMN and GMN use them too). Permuting a layer's
neurons permutes these features the same way, so adding them (through per-neuron maps) to the first
DWS layer's output keeps the model equivariant; they are width-agnostic like the layers.

With an edit's parameters ``cond``, each probe also gets a learned gate ``gate(cond)`` [B, P] (a small MLP), and a
neuron sees both its raw and its gated activations: for ``remove(box)`` the model can learn to weigh
the probes inside the box. The INR's output at the probes (invariant) joins the conditioning vector.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dws_edit.inr.evaluate import layer_values
from dws_edit.nn.layer import weight_space_slots
from dws_edit.weights import NetworkSpec, WeightSpace


def probe_grid(d0: int, per_axis: int, extent: float = 1.0) -> Tensor:
    """The probe points: cell centres of a regular grid with ``per_axis`` cells per axis over [-extent, extent]^d0
    (the INRs' domain: 1 for images and shapes, pi for the sines), ``[per_axis ** d0, d0]`` (float32, in the INRs'
    coordinates)."""
    if per_axis < 1:
        raise ValueError(f"probes = {per_axis}: give at least one probe point per axis (or 0 for none)")
    axis = (torch.arange(per_axis, dtype=torch.float32) + 0.5) / per_axis * 2 - 1
    return torch.stack(torch.meshgrid(*[axis * extent] * d0, indexing="ij"), dim=-1).reshape(-1, d0)


class ProbeFeatures(nn.Module):
    """Per-neuron probe features mapped into a DWS layer's canonical output: one additive term per slot.

    ``spec``: the INR architecture (depth, d0, dL; any hidden widths). ``per_axis``: probe points per axis
    (``per_axis ** d0`` in all) over [-extent, extent]^d0. ``channels``: the DWS layer's output channels.
    ``cond_dim``: size of the edit's parameter vector (0: no gates). ``forward(ws, cond)`` takes the *raw* INR
    weights [B, 1, ...] and returns (terms, outputs): ``terms`` matches the layer's canonical output slot by slot,
    ``outputs`` [B, P * dL] are the INR's values at the probes.
    """

    def __init__(
        self, spec: NetworkSpec, per_axis: int, channels: int, cond_dim: int = 0, hidden: int = 64, extent: float = 1.0
    ):
        super().__init__()
        d0, self.num_layers = spec.layer_sizes[0], spec.num_layers
        self.register_buffer("points", probe_grid(d0, per_axis, extent), persistent=False)
        p = self.points.shape[0]
        self.out_features = p * spec.layer_sizes[-1]
        self.gate = nn.Sequential(nn.Linear(cond_dim, hidden), nn.ReLU(), nn.Linear(hidden, p)) if cond_dim else None
        width = 2 * p if cond_dim else p
        self.embed = nn.ModuleList(
            nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
            for _ in range(spec.num_layers - 1)
        )
        self.slots = weight_space_slots(spec)
        # one map per (slot, hidden axis): neuron embedding -> the slot's F = fixed_size * channels features
        self.project = nn.ModuleDict(
            {f"{s.name}_{a}": nn.Linear(hidden, s.fixed_size * channels) for s in self.slots for a in s.hidden}
        )

    def forward(self, ws: WeightSpace, cond: Tensor | None) -> tuple[list[Tensor], Tensor]:
        with torch.autocast(ws.device.type, enabled=False):
            values = layer_values(ws.to(torch.float32) if ws.dtype == torch.bfloat16 else ws, self.points.to(ws.dtype))
        neurons = []  # per hidden layer l = 1 .. L-1: [B, n_l, hidden]
        gate = None if self.gate is None else self.gate(cond.to(ws.dtype))[:, None, :]  # [B, 1, P]
        for l, act in enumerate(values[:-1]):
            x = act.transpose(1, 2)  # [B, n_l, P]
            if gate is not None:
                x = torch.cat([x, x * gate], dim=-1)
            neurons.append(self.embed[l](x))
        terms = []
        for s in self.slots:
            term = 0
            for pos, a in enumerate(s.hidden):
                t = self.project[f"{s.name}_{a}"](neurons[a - 1])  # [B, n_a, F]
                for other in range(len(s.hidden)):  # broadcast over the slot's other hidden axes
                    if other != pos:
                        t = t.unsqueeze(1 + other)
                term = term + t
            terms.append(term)
        return terms, values[-1].reshape(ws.batch_size, -1)
