"""Losses at sample points that a fit or a refine can follow instead of the mean squared error, as the gradient of
each INR's mean loss with respect to its outputs (:data:`OutputGrad`; :func:`dws_edit.inr.fitting.fit`'s ``loss``).

- :func:`clamped_l1`: DeepSDF's clamped L1 (Park et al. 2019, Eq. 4), for SDFs fitted by that recipe.
- :func:`sdf_surface_grad`: the MSE of the SDFs squashed by ``tanh(f / 0.05)`` (:func:`sdf_surface_loss`), the SDF
  domain's refine loss. A mesh, an occupancy and a sphere tracer see an SDF's sign and its values near the surface;
  the MSE spends its steps on values far from it (a removed part's far field, an outer shell) that none of them
  shows. Measured (docs/benchmarks.md, "SDF refine loss"): 100 refine steps from the DWS pass on 32 held-out zoo
  SDFs raise the occupancy IoU (64^3) of remove 0.834 -> 0.909, symmetrize 0.811 -> 0.922 and remove_sphere
  0.890 -> 0.929 over the MSE.
- :func:`rendered_field_grad`: the distance of two colored fields as a volume renderer sees them
  (:func:`rendered_field_loss`), the field domain's refine loss. A field's raw outputs and what it renders differ in
  two ways the MSE ignores: density is clamped to [0, 1] before rendering (``dws_edit.render.field_sigma``), so
  every negative density renders as empty space, and a color shows only where there is density. The MSE spends
  its steps pulling an empty region's density to exactly 0 and its arbitrary colors to the target's. Measured
  (docs/nerf.md, "Refine loss"): 100 refine steps toward a remove's target on NeRFs trained from images
  (``ns-train dws-nerf``, 5 scenes) reach a mean 22.5 dB against the exactly edited scene under the MSE and 31.7
  dB under this loss; on 15 fitted fields it raises the IoU of remove and symmetrize too (0.799 -> 0.855,
  0.715 -> 0.780).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

OutputGrad = Callable[[Tensor, Tensor], Tensor]
"""``grad(outputs [B, M, dL], targets [B, M, dL]) -> [B, M, dL]``: d(each INR's mean loss over its M points) /
d(outputs)."""


class PointLoss(NamedTuple):
    """A loss of INRs' outputs at sample points: ``value(outputs, targets) -> [B]`` (each INR's mean over its
    points) and its :data:`OutputGrad` ``grad``, written out (what a fit follows)."""

    value: Callable[[Tensor, Tensor], Tensor]
    grad: OutputGrad


DENSITY_WEIGHT = 10.0
"""Weight of the squared density error against the colors' in :func:`rendered_field_loss`: the renderer multiplies a
density by 100 (``dws_edit.render.DENSITY_SCALE``), a color by at most 1. Chosen on 5 NeRF runs (remove) and 15
fitted fields (remove, symmetrize) among the MSE, 1, 10 and an opacity form (docs/nerf.md, "Refine loss")."""
OPACITY_EXPONENT = 5.0
"""Density 1's optical depth over 0.05 units, the step a ray saturates in (``DENSITY_SCALE`` 100 x 0.05): a
target's colors count with the opacity ``1 - exp(-5 d)`` of such a step of its density."""


def clamped_l1(delta: float) -> OutputGrad:
    """DeepSDF's loss (Park et al. 2019, Eq. 4): mean ``|clamp(f, -delta, delta) - clamp(t, -delta, delta)|``; its
    gradient is zero where the output is clamped."""

    def grad(outputs: Tensor, targets: Tensor) -> Tensor:
        diff = outputs.clamp(-delta, delta) - targets.clamp(-delta, delta)
        return diff.sign_().mul_(outputs.abs() < delta).div_(outputs.shape[1] * outputs.shape[2])

    return grad


SURFACE_SCALE = 0.05
"""The distance (units of [-1, 1]^3) below which :func:`sdf_surface_loss` weighs an SDF's values nearly as the MSE
does (``tanh(f / s) ~ f / s``); past ~2s it sees only their sign. 0.05 is 1.6 voxels of a 64^3 grid, the grid
where the benches' IoU is measured."""


def _squashed(values: Tensor) -> Tensor:
    return torch.tanh(values / SURFACE_SCALE)


def sdf_surface_loss(outputs: Tensor, targets: Tensor) -> Tensor:
    """Each SDF's distance to its target at M points as its surface shows it: ``[B]``, the mean over the points of
    ``(tanh(f / s) - tanh(t / s))^2`` for outputs and targets ``[B, M, 1]`` and ``s`` = :data:`SURFACE_SCALE`.
    Zero exactly when the two agree at every point (tanh is one-to-one); a far value's error counts little, a
    wrong sign about as much as 4 (the squashed values' range squared)."""
    return (_squashed(outputs) - _squashed(targets)).square().flatten(1).mean(1)


def sdf_surface_grad(outputs: Tensor, targets: Tensor) -> Tensor:
    """:data:`OutputGrad` of :func:`sdf_surface_loss`, written out: ``2 (a - b) (1 - a^2) / (s M dL)`` with
    ``a = tanh(f / s)``, ``b = tanh(t / s)``."""
    a = _squashed(outputs)
    return (a - _squashed(targets)).mul_(1 - a * a).mul_(2 / (SURFACE_SCALE * outputs.shape[1] * outputs.shape[2]))


def _as_rendered(outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Outputs and targets [B, M, 4] as rendered: each target clamped to [0, 1], each output clamped only on the
    side where its target is saturated (a target <= 0 is matched by any output <= 0, one >= 1 by any output >= 1;
    elsewhere the output is taken as it is, so one pushed past 0 or 1 where the target lies inside keeps a
    gradient back). Returns (output, target, where the output's clamp passes the gradient)."""
    lo, hi = targets <= 0, targets >= 1
    out = torch.where(lo, outputs.clamp(min=0), torch.where(hi, outputs.clamp(max=1), outputs))
    return out, targets.clamp(0, 1), ~((lo & (outputs < 0)) | (hi & (outputs > 1)))


def _color_weight(target: Tensor) -> Tensor:
    return 1 - torch.exp(-OPACITY_EXPONENT * target[..., :1])


def rendered_field_loss(outputs: Tensor, targets: Tensor) -> Tensor:
    """Each colored field's distance to its target at M points as a renderer sees them: ``[B]``, the mean over the
    points of ``10 (d - d_t)^2 + a(d_t) |c - c_t|^2``, where outputs and targets are ``[B, M, 4]`` = (density, r, g,
    b), ``a(d) = 1 - exp(-5 d)`` (:data:`DENSITY_WEIGHT`, :data:`OPACITY_EXPONENT`) and values are clamped to [0, 1]
    as rendering clamps them, on the side where the target is saturated only (see the module's docstring). Zero
    exactly when the two render alike at every point: equal densities in [0, 1], equal colors wherever the target
    has density."""
    out, tgt, _ = _as_rendered(outputs, targets)
    err = (out - tgt).square()
    return (DENSITY_WEIGHT * err[..., 0] + _color_weight(tgt)[..., 0] * err[..., 1:].sum(-1)).mean(1)


def rendered_field_grad(outputs: Tensor, targets: Tensor) -> Tensor:
    """:data:`OutputGrad` of :func:`rendered_field_loss`, written out (autograd over these few elementwise
    operations costs about as much as a small network's backward pass)."""
    out, tgt, passes = _as_rendered(outputs, targets)
    diff = out - tgt
    grad = torch.cat([DENSITY_WEIGHT * diff[..., :1], _color_weight(tgt) * diff[..., 1:]], dim=-1)
    return grad.mul_(passes).mul_(2 / outputs.shape[1])


SDF_SURFACE = PointLoss(sdf_surface_loss, sdf_surface_grad)
"""The SDF domain's refine and guard loss (:class:`dws_edit.inr.domains.Domain`)."""
RENDERED_FIELD = PointLoss(rendered_field_loss, rendered_field_grad)
"""The colored-field domain's refine loss (its guard looks at rendered views)."""

__all__ = [
    "clamped_l1",
    "DENSITY_WEIGHT",
    "OPACITY_EXPONENT",
    "OutputGrad",
    "PointLoss",
    "RENDERED_FIELD",
    "rendered_field_grad",
    "rendered_field_loss",
    "SDF_SURFACE",
    "sdf_surface_grad",
    "sdf_surface_loss",
    "SURFACE_SCALE",
]
