"""The dws-nerf field: ONE SIREN 3 -> hidden -> 4 of dws-edit's ``field`` domain, as a nerfstudio ``Field``.

Output 0 is a density in [0, 1] and outputs 1..3 an RGB color (view-independent), the convention of the field zoos
the edit models learn on: ``sigma = 100 * clamp(density, 0, 1)`` inside the cube [-1, 1]^3 and 0 outside
(:func:`dws_edit.render.field_sigma`), ``rgb = clamp(color, 0, 1)``. The field's parameters are
``layers.{i}.{weight,bias}`` in PyTorch's ``[d_out, d_in]`` layout, so a run's checkpoint is read as a WeightSpace
(:func:`dws_edit.inr.nerf_runs.load_nerf`) and evaluated by the same code as every other INR
(:func:`dws_edit.inr.evaluate.evaluate`). World coordinates are the field's (the scenes of ``dws-edit make-scene``
put the object in [-1, 1]^3, cameras 4 units away).
"""

from __future__ import annotations

import torch
from nerfstudio.cameras.rays import RaySamples
from nerfstudio.field_components.field_heads import FieldHeadNames
from nerfstudio.fields.base_field import Field
from torch import Tensor, nn

from dws_edit.inr.evaluate import evaluate
from dws_edit.inr.siren import field_spec, init_siren
from dws_edit.render import field_sigma
from dws_edit.weights import WeightSpace


class SirenField(Field):
    """A SIREN field (Sitzmann et al. 2020) with dws-edit's zero-bias initialisation, hidden widths ``hidden``,
    frequency ``w0`` and volume density ``density_scale`` per unit of density."""

    def __init__(self, hidden: tuple[int, ...], w0: float = 15.0, density_scale: float = 100.0, seed: int = 0) -> None:
        super().__init__()
        self.spec = field_spec(tuple(hidden), w0)
        self.density_scale = float(density_scale)
        start = init_siren(self.spec, 1, torch.Generator().manual_seed(seed))
        self.layers = nn.ModuleList(nn.Linear(n, o) for o, n in self.spec.weight_shapes)
        with torch.no_grad():
            for layer, w, b in zip(self.layers, start.weights, start.biases):
                layer.weight.copy_(w[0, 0])
                layer.bias.copy_(b[0, 0])

    def weight_space(self) -> WeightSpace:
        """The field as ONE INR ``[1, 1, ...]`` of the field domain (a view of the parameters: gradients flow)."""
        return WeightSpace(self.spec, tuple(layer.weight[None, None] for layer in self.layers),
                           tuple(layer.bias[None, None] for layer in self.layers))  # fmt: skip

    def values(self, positions: Tensor) -> Tensor:
        """(density, r, g, b) ``[..., 4]`` at world points ``[..., 3]``."""
        flat = positions.reshape(-1, 3)
        return evaluate(self.weight_space(), flat)[0].reshape(*positions.shape[:-1], 4)

    def get_density(self, ray_samples: RaySamples) -> tuple[Tensor, Tensor]:
        positions = ray_samples.frustums.get_positions()
        values = self.values(positions)
        return field_sigma(values, positions, self.density_scale)[..., None], values[..., 1:]

    def get_outputs(self, ray_samples: RaySamples, density_embedding: Tensor | None = None) -> dict:
        if density_embedding is None:
            density_embedding = self.get_density(ray_samples)[1]
        return {FieldHeadNames.RGB: density_embedding.clamp(0, 1)}
