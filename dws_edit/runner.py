"""Running an edit model on INRs: the edit pass (with the loss gradient some models take), the exact targets where an
edit is trained and measured, refine (a few Adam steps on the edit's target after the pass) and refit (an INR fitted
anew into the models' training distribution). ``dws_edit.edit``, training (``dws_edit.tasks.edit``), the benches,
the demo and the app all run models through here.

The dtype rule, one for every model and front door (:meth:`dws_edit.nn.models.EditNet.forward`): INR weights of any
floating dtype (float64 from numpy, float16, bfloat16) are edited in the model's parameter dtype and come back in the
input's dtype; anything else is refused in one line.

Default refine learning rates, chosen on test INRs of the image-symmetrize, image-remove and sdf-symmetrize models
(reproduce with ``dws-edit bench edit [--domain sdf] --models ... --hybrid-lr LR``): images 1e-3 (the lowest MSE
after 20 steps among 3e-4, 1e-3, 3e-3), 3-D 3e-4 (the highest IoU after 20 steps among 1e-4, 3e-4, 1e-3; at 1e-3
the first steps of a w0 = 15 SIREN make the shape worse before better).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch
from torch import Tensor

from dws_edit.checks import at_least
from dws_edit.compact import fit_function, function_points
from dws_edit.distributed import unwrap
from dws_edit.edits import EditDef, get_edit
from dws_edit.inr import evaluate, fit
from dws_edit.inr.domains import get_domain
from dws_edit.weights import NetworkSpec, WeightSpace

DEFAULT_LR = {"image": 1e-3, "sdf": 3e-4, "field": 3e-4}
"""Adam learning rate of :func:`refine` per domain (see the module's docstring for how they were chosen)."""
MAX_STEPS = 10_000
POINTS = 4096
"""3-D sample points per INR where an edit's loss (its gradient input, refine) is taken; images use the pixel grid."""


def edit_targets(edit: EditDef, ws: WeightSpace, coords: Tensor, params: dict, domain: str, chunk: int = 256,
                 **options) -> Tensor:  # fmt: skip
    """The edit's target of every INR of ``ws`` at ``coords`` ([M, d0] shared or [B, M, d0]): [B, M, dL], in
    chunks, no grad.

    ``params``: numbers shared by all INRs, or tensors with a leading [B]. ``options`` go to the edit's target;
    list-valued ones (``shapes``) hold one entry per INR and are chunked with it."""
    params = {k: v.expand(ws.batch_size, *v.shape[1:]) for k, v in edit.validate(params, domain).items()}
    outs = []
    with torch.no_grad(), torch.autocast(ws.device.type, enabled=False):
        for lo in range(0, ws.batch_size, chunk):
            part = ws[lo : lo + chunk]
            p = {k: v[lo : lo + chunk] for k, v in params.items()}
            c = coords if coords.dim() == 2 else coords[lo : lo + chunk]
            o = {k: v[lo : lo + chunk] if isinstance(v, list) else v for k, v in options.items()}
            outs.append(edit.target(lambda x, part=part: evaluate(part, x), c, p, domain, **o))
    return torch.cat(outs)


def source_targets(edit: EditDef, ws: WeightSpace, params: dict, points: int = POINTS,
                   generator: torch.Generator | None = None, near_target: bool = False
                   ) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Where the loss of an edit of ``ws`` is taken and its exact target there: ``(coords, target)``; the 28x28
    grid for images, ``points`` points half near each INR's surface for 3-D (drawn with ``generator``).
    ``near_target`` (refine, where the domain says ``refine_near_target`` and the target is not an integral): a
    quarter of the points near the target's surface instead, the rest as before (3/8 near the INR's, 3/8 uniform).
    Raises ValueError for an edit whose target is not a function of the INR (remove_part)."""
    edit.check_from_source("the edit's target at the INR")
    domain = get_domain(ws.spec)
    generator, options = generator or torch.Generator().manual_seed(0), edit.target_options(domain.name)
    m = points // 4 if near_target and domain.refine_near_target and not edit.quadrature else 0
    coords = domain.edit_points(ws, points - m, generator)
    if m:  # candidates as edit_points draws them, those closest to the target's surface
        candidates = torch.rand(ws.batch_size, 4 * m, 3, generator=generator) * 2 - 1
        values = edit_targets(edit, ws, candidates, params, domain.name, **options)
        coords = torch.cat([coords, domain.closest_to_surface(candidates, values, m, generator)], dim=1)
    return coords, edit_targets(edit, ws, coords, params, domain.name, **options)


def run_edit_model(model, ws: WeightSpace, cond: Tensor | None, edit: EditDef | None = None, params: dict | None = None,
                   coords: Tensor | None = None, target: Tensor | None = None, points: int = POINTS,
                   seed: int = 0) -> WeightSpace:  # fmt: skip
    """The edit model's output for the INRs ``ws``: ``model(ws, cond)``, and for a model that takes the loss
    gradient (``model.gradient``) also the gradient of each INR's functional MSE at ``coords`` against the edit's
    ``target`` there ([B, M, dL]). Not given, they are computed here from ``edit`` and ``params``
    (:func:`source_targets`, drawn with ``seed``). The gradient is the one fine-tuning's first step follows
    (``dws_edit.inr.fitting.mse_and_grads``); a model with refinement passes (``passes``) takes it again at each
    pass's output. Raises ValueError for a gradient model and an edit whose target is not a function of the INR."""
    if not getattr(unwrap(model), "gradient", False):  # the model's own attribute, DDP-wrapped or not
        return model(ws, cond)
    from dws_edit.inr.fitting import mse_and_grads

    if coords is None or target is None:
        if edit is None:
            raise ValueError("a gradient edit model needs the edit's target computed from the INR; give the edit")
        source = ws.to(torch.float32)  # the loss is taken in float32 whatever the INR's dtype
        coords, target = source_targets(edit, source, params or {}, points, torch.Generator().manual_seed(seed))

    def gradient_of(inrs: WeightSpace) -> WeightSpace:
        with torch.autocast(inrs.device.type, enabled=False):
            _, grads = mse_and_grads(inrs.spec, [t.detach().float() for t in inrs.tensors()], coords, target)
        return WeightSpace(inrs.spec, tuple(grads[0::2]), tuple(grads[1::2]))

    return model(ws, cond, gradient_of)


def edited_values(model, ws: WeightSpace, cond: Tensor | None, coords: Tensor, target: Tensor | None = None) -> Tensor:
    """Values of the model's edited INRs at ``coords``; the INR itself is evaluated in float32. ``target``: the
    edit's target at ``coords``, where a gradient model takes its gradient."""
    edited = run_edit_model(model, ws, cond, coords=coords, target=target)
    with torch.autocast(coords.device.type, enabled=False):
        return evaluate(edited.to(torch.float32), coords)


def refine(
    source: WeightSpace,
    edited: WeightSpace,
    name: str,
    params: dict,
    steps: int,
    lr: float | None = None,
    points: int = POINTS,
    seed: int = 0,
    on_step: Callable[[float], None] | None = None,
) -> WeightSpace:
    """Fine-tune ``edited`` (the DWS edit of ``source``, same batch size) for ``steps`` Adam steps on the target of
    the learned edit ``name`` with ``params`` computed from ``source``: the hybrid of ``dws-edit bench edit``. The
    steps follow the domain's ``refine_loss`` (:class:`~dws_edit.inr.domains.Domain`): the MSE for images, for SDFs
    the distance their surfaces show (:func:`dws_edit.inr.losses.sdf_surface_loss`), for colored fields the distance
    a renderer sees (:func:`dws_edit.inr.losses.rendered_field_loss`).

    ``lr``: Adam's learning rate (default ``DEFAULT_LR`` of the domain); ``points``: 3-D sample points per INR, half
    near the source's surface or the target's (:func:`source_targets` with ``near_target``; images use the 28x28
    grid, where image edits are defined and measured: between pixels the refined INR is as unconstrained as a fit to
    the pixels); ``on_step(fraction)`` after each step. Returns the refined INRs (the spec of ``edited``). Raises
    ValueError (one line) for steps outside [0, 10000], a learning rate outside (0, 1), or an edit whose target is
    not a function of the source (remove_part: the generator's exact shape; on the app's built-in mug refining
    toward it at these points lowered the IoU against it).
    """
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or not 0 <= steps <= MAX_STEPS:
        raise ValueError(f"refine: steps={steps!r} is not accepted; accepted: an integer in [0, {MAX_STEPS}]")
    steps = int(steps)
    if lr is not None and not (isinstance(lr, numbers.Real) and 0 < lr < 1):
        raise ValueError(f"refine: lr={lr!r} is not accepted; accepted: a number in (0, 1)")
    if edited.batch_size != source.batch_size:
        raise ValueError(f"refine: {edited.batch_size} edited INRs for {source.batch_size} sources; accepted: one each")
    definition = get_edit(name, "learned")
    definition.check_from_source("refine")
    if steps == 0:
        return edited
    domain = get_domain(source.spec)
    g = torch.Generator().manual_seed(seed)
    coords, target = source_targets(definition, source, params, points, g, near_target=True)
    loss = domain.refine_loss.grad if domain.refine_loss else None
    result = fit(edited.spec, coords, target, 0.0, steps, lr or DEFAULT_LR[domain.name], init=edited,
                 chunk=edited.batch_size, on_step=on_step, loss=loss)  # fmt: skip
    return result.ws


REFIT_DEFAULTS = {"hidden": 32, "points": 16384, "steps": 1000, "lr": 3e-3, "w0": 15.0}
"""How :func:`refit` fits: as the app fits an uploaded mesh (16,384 points half near the surface, 1,000 steps), at
width 32 and w0 15 (the 3-D models' trained spec) with Adam at the 3-D zoos' rate, from SIREN's initialisation with
zero biases (the zoos')."""


def refit_spec(spec: NetworkSpec) -> NetworkSpec:
    """The spec :func:`refit` returns for INRs of ``spec``: two hidden sine layers of width 32, w0 15, no output
    offset (``sdf_spec`` / ``field_spec``), whatever the source's width, depth or w0. Raises ValueError for an INR
    without a surface (images)."""
    domain = get_domain(spec)
    if not domain.has_surface:
        raise ValueError(f"refit: {domain.name} INRs are not accepted; accepted: 3-D INRs (sdf, field)")
    hidden = (REFIT_DEFAULTS["hidden"],) * 2
    return NetworkSpec((spec.layer_sizes[0], *hidden, spec.layer_sizes[-1]), activation="sine",
                       w0=REFIT_DEFAULTS["w0"], output_offset=0.0)  # fmt: skip


def refit(ws: WeightSpace, steps: int = REFIT_DEFAULTS["steps"], points: int = REFIT_DEFAULTS["points"],
          seed: int = 0) -> WeightSpace:  # fmt: skip
    """The same functions as the 3-D INRs ``ws`` [B] (SDFs or colored fields of any width, depth and w0), fitted
    anew as :data:`REFIT_DEFAULTS` says, ``steps`` Adam steps at ``points`` fixed points per INR, half near its
    surface, to the values of ``ws`` there. A SIREN fitted by other code (another initialisation, another loss:
    :mod:`dws_edit.bench.other_fits`) lies outside the shipped 3-D models' training data, where a learned edit can
    leave it worse than no edit; its refit lies inside (docs/models.md, "INRs fitted by other code"). The INRs of a
    batch share the draws of their points and initialisations, so ``refit(ws)[i]`` and ``refit(ws[i:i+1])`` differ
    as two fits do. About 4 s an INR here (2 CPU cores, a batch of 8). Returns [B] of :func:`refit_spec`. Raises
    ValueError (one line) for an image INR or a step or point count below 1."""
    spec = refit_spec(ws.spec)
    at_least("steps", steps, 1)
    at_least("points", points, 1)
    coords = function_points(ws, points, seed)
    return fit_function(ws, spec, coords, steps, REFIT_DEFAULTS["lr"], seed)  # compaction's path, from SIREN's init


__all__ = [
    "DEFAULT_LR",
    "POINTS",
    "REFIT_DEFAULTS",
    "edit_targets",
    "edited_values",
    "refine",
    "refit",
    "refit_spec",
    "run_edit_model",
    "source_targets",
]
