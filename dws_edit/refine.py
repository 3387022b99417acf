"""Refining a learned edit: a few Adam steps on the edit's functional target, starting from the DWS output; and
refitting an INR from elsewhere into the shipped models' training distribution (:func:`refit`).

The one-pass DWS edit is fast but approximate; ``refine(source, edited, name, params, steps)`` fine-tunes the
edited INR on the same target the models train on (:mod:`dws_edit.edits`: the edit applied to the *source*
function), at the points the models are trained and measured on: the 28x28 pixel grid for images, and for 3-D
INRs ``points`` points, half near the source's surface (:func:`dws_edit.tasks.run.sample_points`). This is
the hybrid of ``dws-edit bench edit``: at an equal number of steps its MSE ends below fine-tuning's from the
source on every model benched at these rates (README, "Shipped edit models"), though on 3-D not always its IoU.

Default learning rates, chosen on test INRs of the image-symmetrize, image-remove and sdf-symmetrize models
(reproduce with ``dws-edit bench edit [--domain sdf] --models ... --hybrid-lr LR``): images 1e-3 (the lowest MSE
after 20 steps among 3e-4, 1e-3, 3e-3), 3-D 3e-4 (the highest IoU after 20 steps among 1e-4, 3e-4, 1e-3; at 1e-3
the first steps of a w0 = 15 SIREN make the shape worse before better).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch

from dws_edit.edits import domain_of, get_edit
from dws_edit.inr import fit
from dws_edit.weights import NetworkSpec, WeightSpace

DEFAULT_LR = {"image": 1e-3, "sdf": 3e-4, "field": 3e-4}
"""Adam learning rate of ``refine`` per domain (see the module's docstring for how they were chosen)."""
MAX_STEPS = 10_000


def refine(
    source: WeightSpace,
    edited: WeightSpace,
    name: str,
    params: dict,
    steps: int,
    lr: float | None = None,
    points: int = 4096,
    seed: int = 0,
    on_step: Callable[[float], None] | None = None,
) -> WeightSpace:
    """Fine-tune ``edited`` (the DWS edit of ``source``, same batch size) for ``steps`` Adam steps on the target of
    the learned edit ``name`` with ``params`` computed from ``source``.

    ``lr``: Adam's learning rate (default ``DEFAULT_LR`` of the domain); ``points``: 3-D sample points per INR
    (images use the 28x28 grid, where image edits are defined and measured: between pixels the refined INR is as
    unconstrained as a fit to the pixels); ``on_step(fraction)`` after each step. Returns the refined INRs (the
    spec of ``edited``). Raises ValueError (one line) for steps outside [0, 10000], a learning rate outside (0, 1),
    or ``remove_part``: its target is not a function of the source INR but the generator's exact shape without the
    part (known for zoo shapes only), and on the app's built-in mug refining toward it at these points lowered
    the IoU against it.
    """
    from dws_edit.tasks.run import edit_targets, sample_coords, sample_points, target_options

    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or not 0 <= steps <= MAX_STEPS:
        raise ValueError(f"refine: steps={steps!r} is not accepted; accepted: an integer in [0, {MAX_STEPS}]")
    steps = int(steps)
    if lr is not None and not (isinstance(lr, numbers.Real) and 0 < lr < 1):
        raise ValueError(f"refine: lr={lr!r} is not accepted; accepted: a number in (0, 1)")
    if edited.batch_size != source.batch_size:
        raise ValueError(f"refine: {edited.batch_size} edited INRs for {source.batch_size} sources; accepted: one each")
    if name == "remove_part":
        raise ValueError(
            "refine: remove_part cannot be refined (its target is the generator's exact shape, not a function of the "
            "INR); accepted: smooth, symmetrize, remove, remove_sphere, dilate"
        )
    if steps == 0:
        return edited
    definition = get_edit(name)
    domain = domain_of(source.spec)
    generator = torch.Generator().manual_seed(seed)
    if domain == "image":
        coords = sample_coords(domain, source.spec)
    else:
        coords = sample_points(source, domain, points, generator)
    target = edit_targets(definition, source, coords, params, domain, **target_options(definition, domain))
    result = fit(edited.spec, coords, target, 0.0, steps, lr or DEFAULT_LR[domain], init=edited,
                 chunk=edited.batch_size, on_step=on_step)  # fmt: skip
    return result.ws


REFIT_DEFAULTS = {"hidden": 32, "points": 16384, "steps": 1000, "lr": 3e-3}
"""How :func:`refit` fits: as the app fits an uploaded mesh (16,384 points half near the surface, 1,000 steps), at
width 32 (the 3-D models' trained width) with Adam at the 3-D zoos' rate, from SIREN's initialisation with zero
biases (the zoos')."""


def refit_spec(spec: NetworkSpec) -> NetworkSpec:
    """The spec :func:`refit` returns for INRs of ``spec``: the domain's spec (``sdf_spec`` / ``field_spec``) at
    width 32 and w0 15, whatever the source's width, depth or w0. Raises ValueError for an image spec."""
    from dws_edit.inr import field_spec, sdf_spec

    domain = domain_of(spec)
    if domain not in ("sdf", "field"):
        raise ValueError(f"refit: {domain} INRs are not accepted; accepted: 3-D INRs (sdf, field)")
    hidden = (REFIT_DEFAULTS["hidden"],) * 2
    return sdf_spec(hidden) if domain == "sdf" else field_spec(hidden)


def refit(ws: WeightSpace, steps: int = REFIT_DEFAULTS["steps"], points: int = REFIT_DEFAULTS["points"],
          seed: int = 0) -> WeightSpace:  # fmt: skip
    """The same functions as the 3-D INRs ``ws`` [B] (SDFs or colored fields of any width, depth and w0), fitted
    anew as :data:`REFIT_DEFAULTS` says, ``steps`` Adam steps at ``points`` fixed points per INR, half near its
    surface, to the values of ``ws`` there. A SIREN fitted by other code (another initialisation, another loss:
    :mod:`dws_edit.bench.other_fits`) lies outside the shipped 3-D models' training data, where a learned edit can
    leave it worse than no edit; its refit lies inside (README, "INRs fitted by other code": the learned edits on
    such INRs with and without it). The INRs of a batch share the draws of their points and initialisations, so
    ``refit(ws)[i]`` and ``refit(ws[i:i+1])`` differ as two fits do. About 4 s an INR here (2 CPU cores, a batch of
    8). Returns [B] of :func:`refit_spec`. Raises ValueError (one line) for an image INR or a step or point count
    below 1."""
    from dws_edit.checks import at_least
    from dws_edit.inr import evaluate
    from dws_edit.tasks.run import sample_points

    spec = refit_spec(ws.spec)
    at_least("steps", steps, 1)
    at_least("points", points, 1)
    source = ws.to(torch.float32)
    coords = sample_points(source, domain_of(ws.spec), points, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        targets = evaluate(source, coords)
    return fit(spec, coords, targets, 0.0, steps, REFIT_DEFAULTS["lr"], seed, chunk=ws.batch_size).ws.to(ws.dtype)
