"""Per-tensor statistics of a zoo's weights, which models normalize their inputs with."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dws_edit.weights import WeightSpace


@dataclass(frozen=True)
class WeightStats:
    """Per-tensor mean and std (one scalar per tensor and channel) of a zoo; models normalize with them
    (``dws_edit.nn.WeightNormalizer``, buffers saved with the model)."""

    weight_mean: tuple[Tensor, ...]
    weight_std: tuple[Tensor, ...]
    bias_mean: tuple[Tensor, ...]
    bias_std: tuple[Tensor, ...]

    @classmethod
    def of(cls, ws: WeightSpace, eps: float = 1e-8) -> WeightStats:
        def mean_std(t: Tensor) -> tuple[Tensor, Tensor]:
            dims = [0] + list(range(2, t.dim()))  # over networks and entries: one value per channel
            if t.numel() // t.shape[1] < 2:  # a single value per channel has no spread
                return t.mean(dims), torch.ones(t.shape[1], dtype=t.dtype)
            return t.mean(dims), t.std(dims).clamp_min(eps)

        w = [mean_std(t) for t in ws.weights]
        b = [mean_std(t) for t in ws.biases]
        return cls(tuple(m for m, _ in w), tuple(s for _, s in w), tuple(m for m, _ in b), tuple(s for _, s in b))

    def to_tensors(self) -> dict[str, Tensor]:
        out = {}
        for name in ("weight_mean", "weight_std", "bias_mean", "bias_std"):
            for i, t in enumerate(getattr(self, name)):
                out[f"stats.{name}.{i}"] = t
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], num_layers: int) -> WeightStats:
        return cls(
            *(
                tuple(tensors[f"stats.{name}.{i}"] for i in range(num_layers))
                for name in ("weight_mean", "weight_std", "bias_mean", "bias_std")
            )
        )
