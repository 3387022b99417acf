"""INR domains: what an INR's inputs and outputs mean, decided from its spec, and everything that follows from it.

========  ====  ==========  =====================================================================
domain    d0    dL          meaning
========  ====  ==========  =====================================================================
image     2     1 or 3      (x, y) in [-1, 1]^2 -> intensity or RGB in [0, 1] (background 0)
sdf       3     1           (x, y, z) in [-1, 1]^3 -> signed distance, negative inside
field     3     4           (x, y, z) in [-1, 1]^3 -> (density in [0, 1], r, g, b)
========  ====  ==========  =====================================================================

A :class:`Domain` owns what used to be written once per caller: its surface convention (:meth:`Domain.level`,
:meth:`Domain.inside`, :meth:`Domain.band`), where edits are trained and measured (:meth:`Domain.edit_points`: the
pixel grid, or points half near the surface), the quadrature presets of smoothing targets
(:attr:`Domain.quadrature`) and the metric an edit is judged by (:attr:`Domain.metric`). Callers ask the domain;
none branches on its name. A NeRF density that is not bounded in [0, 1] is one more :class:`Domain` with its own
``threshold`` and ``level`` (its spec then has to say which domain it is: today d0 and dL decide).

Image coordinates: x runs across the columns and y DOWN the rows (:func:`~dws_edit.inr.siren.grid_coords`), so the
box ``-1 -1 0 0`` is the top-left quarter of an image. 3-D views put y up (:func:`dws_edit.render.orbit_eyes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from dws_edit.inr.evaluate import evaluate
from dws_edit.inr.losses import RENDERED_FIELD, SDF_SURFACE, PointLoss
from dws_edit.inr.siren import grid_coords
from dws_edit.weights import NetworkSpec, WeightSpace

IMAGE_GRID = 28
"""Pixels per side of the grid where image edits are defined, trained and measured (the anchors' 28x28)."""


@dataclass(frozen=True)
class Domain:
    """An INR family: input dimension ``d0``, accepted output dimensions, and its conventions.

    ``threshold``: the surface is where output 0 crosses it (SDF 0, density 1/2); None for images (no surface).
    ``inside_above``: inside is where output 0 is above the threshold (a density) rather than below (an SDF).
    ``quadrature``: keyword options of the smooth target per purpose: ``"exact"`` (training targets, refine,
    evaluation at points), ``"grid"`` (occupancy grids of benches and the demo), ``"preview"`` (the app's error
    of one edit); images use the target's default (13 points over 4 sigma per axis, 169 evaluations a point).
    ``rendered``: a colored volume, judged also by the PSNR of volume-rendered views
    (:func:`dws_edit.metrics.field_view_psnr`). ``refine_loss``: the loss refine steps follow toward an edit's
    target at points (:func:`dws_edit.runner.refine`), None for the MSE (images); SDFs follow what their surface
    shows (:func:`dws_edit.inr.losses.sdf_surface_loss`), colored fields what a renderer sees
    (:func:`dws_edit.inr.losses.rendered_field_loss`). The never-worse guard judges SDFs by IoU and colored fields
    by rendered views (:func:`dws_edit.guard.judge`). ``start_steps``: refine steps a learned edit's pass gets
    whatever its loss, with the guard on (0: none; the pass is the result, not a start). ``refine_near_target``:
    refine draws a quarter of its points near the target's surface (:func:`dws_edit.runner.source_targets`), where
    the edit moves it (a removed box's new faces, a mirrored half), not only near the source's. Measured on 32
    held-out zoo SDFs (docs/benchmarks.md, "SDF refine loss"): the pass alone leaves the occupancy IoU of remove,
    symmetrize and remove_sphere near no edit's (0.748, 0.622, 0.852 against 0.711, 0.567, 0.855), worse than no
    edit on 13 to 17 of 32; after 100 refine steps by the surface loss 0.909, 0.922, 0.931, worse on 1, 0, 2; with
    200 steps, a quarter near the target's surface, IoU where the edit acts rises by a further 0.009 to 0.013
    (docs/benchmarks.md, "The guard judges SDFs by IoU").
    """

    name: str
    d0: int
    out_dims: tuple[int, ...]
    doc: str
    threshold: float | None = None
    inside_above: bool = False
    quadrature: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    rendered: bool = False
    refine_loss: PointLoss | None = None
    start_steps: int = 0
    refine_near_target: bool = False

    def describe(self) -> str:
        outs = " or ".join(str(d) for d in self.out_dims)
        return f"{self.name} (d0={self.d0}, dL={outs})"

    # ------------------------------------------------------------------ surface convention
    @property
    def has_surface(self) -> bool:
        return self.threshold is not None

    @property
    def metric(self) -> str:
        """How an edit of this domain is judged against its exact target (:func:`dws_edit.metrics.edit_error`)."""
        return "IoU" if self.has_surface else "MSE"

    def _surface(self) -> float:
        if self.threshold is None:
            raise ValueError(
                f"{self.name} INRs have no surface: occupancy and level sets are defined for sdf and field INRs"
            )
        return self.threshold

    def level(self, values: Tensor) -> Tensor:
        """Values ``[..., dL]`` as a level-set function ``[...]``, negative inside and zero on the surface: the
        SDF itself, or ``threshold - density``. Raises ValueError for a domain without a surface."""
        t = self._surface()
        return t - values[..., 0] if self.inside_above else values[..., 0] - t

    def inside(self, values: Tensor) -> Tensor:
        """Occupancy ``[...]`` (bool) of values ``[..., dL]``: SDF ``< 0``, density ``> 1/2``."""
        t = self._surface()
        return values[..., 0] > t if self.inside_above else values[..., 0] < t

    def band(self, values: Tensor, clamp: float) -> Tensor:
        """Values ``[B, M, dL]`` seen only near the surface (DeepSDF's clamped loss, Park et al. 2019): output 0
        clamped to ``[threshold - clamp, threshold + clamp]``, the others (colors) as they are; ``clamp`` 0:
        unchanged."""
        if not clamp:
            return values
        t = self._surface()
        if values.shape[-1] == 1:
            return values.clamp(t - clamp, t + clamp)
        return torch.cat([values[..., :1].clamp(t - clamp, t + clamp), values[..., 1:]], dim=-1)

    def colors(self, values: Tensor) -> Tensor | None:
        """The RGB part ``[..., 3]`` of values ``[..., dL]`` in [0, 1], or None for a domain without colors."""
        return values[..., 1:].clamp(0, 1) if self.rendered else None

    # ------------------------------------------------------------------ where edits are trained and measured
    def edit_points(self, ws: WeightSpace, m: int, generator: torch.Generator, near: float = 0.5) -> Tensor:
        """Where an edit of the INRs ``ws`` [B] is trained and measured: the 28x28 pixel grid ``[784, 2]`` for
        images (``m`` and ``generator`` unused); for 3-D, ``[B, m, 3]`` points per INR, a fraction ``near`` close
        to its surface (of 4x as many uniform candidates, those where :meth:`level` is smallest in magnitude,
        jittered by N(0, 0.02^2)), the rest uniform in [-1, 1]^3."""
        if not self.has_surface:
            return grid_coords(IMAGE_GRID, IMAGE_GRID)
        n, m_near = ws.batch_size, int(round(m * near))
        uniform = torch.rand(n, m - m_near, 3, generator=generator) * 2 - 1
        candidates = torch.rand(n, 4 * m_near, 3, generator=generator) * 2 - 1
        with torch.no_grad(), torch.autocast(ws.device.type, enabled=False):
            values = evaluate(ws.to(torch.float32), candidates)
        return torch.cat([uniform, self.closest_to_surface(candidates, values, m_near, generator)], dim=1)

    def closest_to_surface(self, candidates: Tensor, values: Tensor, m: int, generator: torch.Generator) -> Tensor:
        """The ``m`` candidates ``[B, M', 3]`` per INR whose values ``[B, M', dL]`` lie closest to the surface
        (:meth:`level` smallest in magnitude), jittered by N(0, 0.02^2) and kept in [-1, 1]^3: ``[B, m, 3]``."""
        idx = self.level(values).abs().topk(m, dim=1, largest=False).indices
        close = candidates.gather(1, idx[..., None].expand(-1, -1, 3))
        return (close + torch.randn(close.shape, generator=generator) * 0.02).clamp(-1, 1)


_QUADRATURE_3D = {
    "exact": {"points": 9, "extent": 3.0},  # 729 evaluations a point, error ~1e-3 (dws_edit.edits.targets._smooth)
    "grid": {"points": 7, "extent": 3.0},  # 343: occupancy grids of benches and the demo
    "preview": {"points": 5, "extent": 2.5},  # 125: the app's error of one edit
}

DOMAINS: dict[str, Domain] = {
    "image": Domain("image", 2, (1, 3), "(x, y) in [-1, 1]^2 -> intensity or RGB in [0, 1]"),
    "sdf": Domain(
        "sdf",
        3,
        (1,),
        "(x, y, z) in [-1, 1]^3 -> signed distance, negative inside",
        0.0,
        False,
        _QUADRATURE_3D,
        refine_loss=SDF_SURFACE,
        start_steps=200,
        refine_near_target=True,
    ),  # fmt: skip
    "field": Domain(
        "field",
        3,
        (4,),
        "(x, y, z) in [-1, 1]^3 -> (density in [0, 1], r, g, b)",
        0.5,
        True,
        _QUADRATURE_3D,
        rendered=True,
        refine_loss=RENDERED_FIELD,
    ),  # fmt: skip
}


def domain_of(spec: NetworkSpec | WeightSpace) -> str:
    """The domain name of an INR spec (or of a WeightSpace's spec): ``"image"``, ``"sdf"`` or ``"field"``.

    Raises ValueError (one line, naming the accepted domains) for a spec of no domain, e.g. a 1-D sine INR.
    """
    spec = spec.spec if isinstance(spec, WeightSpace) else spec
    d0, dL = spec.layer_sizes[0], spec.layer_sizes[-1]
    for dom in DOMAINS.values():
        if d0 == dom.d0 and dL in dom.out_dims:
            return dom.name
    accepted = ", ".join(d.describe() for d in DOMAINS.values())
    raise ValueError(f"an INR with spec {spec.layer_sizes} (d0={d0}, dL={dL}) has no edit domain; accepted: {accepted}")


def get_domain(of: str | Domain | NetworkSpec | WeightSpace) -> Domain:
    """The :class:`Domain` named ``of``, or of a spec / WeightSpace. Raises ValueError (one line) otherwise."""
    if isinstance(of, Domain):
        return of
    if isinstance(of, NetworkSpec | WeightSpace):
        return DOMAINS[domain_of(of)]
    if of not in DOMAINS:
        raise ValueError(f"unknown domain {of!r}; accepted: {', '.join(DOMAINS)}")
    return DOMAINS[of]


__all__ = ["DOMAINS", "IMAGE_GRID", "Domain", "domain_of", "get_domain"]
