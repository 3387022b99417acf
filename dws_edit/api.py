"""The edit API every front door calls: ``edit``, ``available_edits``, ``fit_image``, ``fit_mesh``.

Learned edits run a shipped model (``checkpoints/<domain>-<edit>``, matched to the INR by
:func:`dws_edit.checkpoints.model_for`, run by :mod:`dws_edit.runner`); exact edits are closed forms on the weights.
Both come from one registry (``dws_edit.edits.REGISTRY``) and take and return ``WeightSpace``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dws_edit.checkpoints import accepted_spec, available_models, check_model_fits, model_for, shipped_model
from dws_edit.checks import at_least, floating_weights, positive_number
from dws_edit.compact import check_width, compact
from dws_edit.edits import REGISTRY, get_edit
from dws_edit.guard import GUARD_STEPS, GuardReport, run_learned
from dws_edit.inr.domains import domain_of
from dws_edit.inr.siren import respec
from dws_edit.runner import refit_spec
from dws_edit.weights import WeightSpace


def available_edits() -> list[dict]:
    """Every edit of the registry (``dws_edit.edits.REGISTRY``): name, kind ("learned" or "exact"), summary,
    domains, its parameters per domain (each as a dict: name, type, accepted values, unit, doc, optional), the
    exact edit computing the same target (``exact``), and for learned edits the shipped models with the INR spec
    each accepts (``models``; ``[]`` when none is shipped: their targets still serve training and evaluation)."""
    models = available_models()
    out = []
    for name, e in REGISTRY.items():
        params = {d: [describe_param(p) for p in e.params(d)] for d in e.domains}
        entry = dict(name=name, kind=e.kind, summary=e.summary, domains=list(e.domains), params=params,
                     exact=e.exact_form)  # fmt: skip
        if e.kind == "learned":
            entry["models"] = [
                {"name": m, "accepts": c.get("accepts")} for m, c in models.items() if c.get("edit") == name
            ]
        out.append(entry)
    return out


MAX_HIDDEN = 2048
"""The widest hidden layer an edit may make. Every learned edit's model output doubles the hidden widths (two networks
averaged; compacted back by default: ``width="input"``), and so do the exact symmetrize and blend: chained wide, they
grow 32 -> 64 -> ... and a few more steps would fill the machine's memory (a user of the app did so at 8,192)."""


def check_widths(widths: tuple[int, ...], name: str) -> None:
    """Raise ValueError (one line) when edit ``name`` would return hidden widths above :data:`MAX_HIDDEN`."""
    if max(widths, default=0) > MAX_HIDDEN:
        raise ValueError(
            f"{name} would make hidden widths {widths}, above the cap of {MAX_HIDDEN}: learned edits (for a moment, "
            "or kept with width='wide') and the exact symmetrize and blend double them; undo, or compact the INR to "
            "a working width first (dws_edit.compact.compact)"
        )


def describe_param(p) -> dict:
    """One parameter of the registry as plain data: name, type, accepted values (one line), unit, doc, optional."""
    return {"name": p.name, "type": type(p).__name__, "accepted": p.accepted(), "unit": p.unit, "doc": p.doc,
            "optional": p.optional}  # fmt: skip


def edit(
    ws: WeightSpace,
    name: str,
    *,
    exact: bool = False,
    model: Any = None,
    refine: int = 0,
    refine_lr: float | None = None,
    refit: bool = False,
    guard: int | None = GUARD_STEPS,
    width: str | None = None,
    report: bool = False,
    on_step=None,
    **params,
) -> WeightSpace | tuple[WeightSpace, GuardReport | None]:
    """Edit INRs in weight space: ``ws`` (a batch, or one INR with B = 1) -> the edited INRs.

    ``name``: a learned edit (``smooth``, ``symmetrize``, ``remove``, ``remove_sphere``, ``remove_part``,
    ``dilate``: the forward pass of a shipped DWS model; a model trained with ``--gradient``, as the image models,
    also takes the gradient of the edit's MSE at the INR, against the edit's target on the 28x28 grid or at 4,096
    points for 3-D, and one with ``--passes N`` takes it again at each pass's output) or an exact edit (``mirror``,
    ``translate``, ``rotate``, ``scale``, ``affine``, ``symmetrize_exact``, ``blend``: closed form, exact to float
    precision). ``exact=True`` picks the closed form of a learned edit where one exists (``symmetrize``). ``model``:
    a loaded edit model or a checkpoint path/name to use instead of the shipped one. ``refine``: after a learned
    edit's pass, this many Adam steps on the edit's functional target (:func:`dws_edit.runner.refine`, learning rate
    ``refine_lr``, default per domain; where 0 is asked and the pass is only a start, 200 for an SDF with the guard
    on, whose held-out IoU that raises from near no edit's to above 0.9, :class:`dws_edit.inr.domains.Domain`, and
    100 where the model was not trained on the asked ``mode``). ``refit``: before a learned 3-D edit, fit the INR
    anew at width 32, w0 15,
    from zero biases (:func:`dws_edit.runner.refit`, seconds per INR; its spec is checked against the model first):
    for SIRENs fitted by other code, which lie outside the models' training data (docs/models.md, "INRs fitted by
    other code"); ``refine`` then still aims at the edit of the INR as given. ``guard``: never worse than not editing
    (:func:`dws_edit.guard.guard`): a learned edit whose output is not clearly better than no edit (its loss against
    the exact target at most 0.9 of no edit's) gets up to this many more refine steps, and otherwise comes back as it
    was, with a one-line warning (None: off; remove_part, whose target is not a function of the INR, is not
    refined; where its model has a training-data check, :mod:`dws_edit.ood`, an INR unlike the model's zoo gets a
    one-line warning).
    ``width``: the hidden widths returned, ``"input"`` (the default of learned edits without ``refine``: the model's
    output, widths x 2, fitted back at the widths of the INR it edited, from that INR: :func:`dws_edit.compact.compact`,
    about 0.1 s an INR, losses within a few % of the wide output's; refine steps then run at those widths, and the
    guard judges the compacted INR) or ``"wide"`` (the output as it is, widths x 2 at every such edit up to
    :data:`MAX_HIDDEN`: the default of exact edits, whose wide result is exact, and with ``refine``, whose gains the
    default compaction gave back in part: docs/models.md, "Widths and compaction").
    ``report``: return ``(edited, GuardReport)`` (None for exact edits or without a guard). ``on_step(fraction)``:
    called after each of the ``refine`` steps. ``params``: the edit's
    parameters (see ``available_edits()``), numbers shared by the batch or tensors with a leading [B].

    A SIREN of a shipped model's depth and widths but another w0 or output offset (imported from another layout) is
    first written at the model's exactly (:func:`dws_edit.inr.siren.respec`; the result has the model's spec). Weights
    of any floating dtype are accepted: a model runs in its own dtype and the result comes back in
    ``ws``'s (:meth:`dws_edit.nn.models.EditNet.forward`). Returns a WeightSpace of the same batch size; with
    ``width="wide"`` learned models with output-capacity expansion and exact symmetrize/blend return wider hidden
    layers. Raises ValueError (one line) for an unknown edit, bad parameters, an unknown ``width``, an INR of no
    domain, or an INR spec no model accepts.
    """
    if not isinstance(ws, WeightSpace):
        raise ValueError(f"edit() takes a WeightSpace (see dws_edit.load_inr / fit_image); got {type(ws).__name__}")
    if ws.channels != 1:
        raise ValueError(f"edit() takes INR weights with one channel; got {ws.channels} channels")
    floating_weights(ws.dtype)
    if width is not None:
        check_width(width)
    definition = get_edit(name)
    if exact or definition.kind == "exact":
        exact_name = name if definition.kind == "exact" else definition.exact_form
        if exact_name is None:
            forms = [n for n, e in REGISTRY.items() if e.exact_form]
            raise ValueError(
                f"edit {name!r} has no exact closed form; exact edits: "
                f"{', '.join(n for n, e in REGISTRY.items() if e.kind == 'exact')} (and {', '.join(forms)} with "
                "exact=True)"
            )
        learned_only = {"refine": (refine, "nothing to refine"), "model": (model is not None, "no model runs"),
                        "refit": (refit, "any INR edits as it is")}  # fmt: skip
        for what, (given, why) in learned_only.items():  # (the guard needs nothing here: a closed form is exact)
            if given:
                raise ValueError(f"{what} applies to learned edits; {name!r} here is exact ({why})")
        closed = get_edit(exact_name)
        if closed.widths is not None:
            check_widths(closed.widths(ws, **params), exact_name)
        edited = closed.apply(ws, **params)
        if width == "input" and edited.spec.hidden_sizes != ws.spec.hidden_sizes:
            edited = compact(edited, ws.spec.hidden_sizes, init=ws)
        return (edited, None) if report else edited
    domain = domain_of(ws.spec)
    definition.check_domain(domain)
    definition.check_names(params, domain)
    spec = refit_spec(ws.spec) if refit else ws.spec  # the spec the model edits, checked before any refit
    if model is None:
        if (written := accepted_spec(spec, name)) != spec:  # another w0 / offset: the same INR written there, exactly
            ws, spec = respec(ws, written.w0, written.output_offset), written
        net = model_for(spec, name, definition.exact_form, params)
    else:
        net = shipped_model(str(model), "edit") if not isinstance(model, torch.nn.Module) else model
        label = (
            str(model) if isinstance(model, str | Path) else getattr(net, "card", {}).get("name", type(net).__name__)
        )
        check_model_fits(net, label, name, domain, spec)
    check_widths(tuple(h * getattr(net, "widening", 1) for h in spec.hidden_sizes), name)
    width = width or ("wide" if refine else "input")  # without refine: compacted back to the widths the model edited
    edited, checked = run_learned(net, ws, definition, params, refine, refine_lr, refit, guard, on_step, width)
    return (edited, checked) if report else edited


MIN_POINTS = 64  # sample points of a shape fit (half near the surface, half uniform)


def fit_image(
    image,
    size: int = 28,
    channels: int = 1,
    target_psnr: float = 40.0,
    max_steps: int = 1000,
    seed: int = 0,
    progress=None,
) -> WeightSpace:
    """Fit ONE SIREN (``image_spec(channels)``, B = 1) to one image.

    ``image``: a path (PNG, JPEG, ... of any size and mode), a PIL image, a numpy array [H, W] or
    [H, W, C], or a tensor [H, W] or [C, H, W] (C in 1..4). It is converted by
    ``dws_edit.data.images.image_to_tensor``: 8-bit / 255 and 16-bit / 65535 to [0, 1], EXIF orientation
    applied, alpha composited onto black (the zoos' background is 0), luminance (channels=1) or RGB
    (channels=3), its longer side resized to ``size`` (box filter when shrinking, LANCZOS when enlarging) and
    centred on a size x size square of background 0 (the aspect kept), clipped to [0, 1]. Fitting stops at
    ``target_psnr`` dB or ``max_steps``; ``progress(fraction)`` is called after
    every step. Raises ValueError (one line) for an unreadable file, an unaccepted array or max_steps below 1.
    """
    from dws_edit.data.images import image_to_tensor
    from dws_edit.inr import fit_images

    at_least("max_steps", max_steps, 1)
    positive_number("target_psnr", target_psnr)
    pixels = image_to_tensor(image, size, channels)
    ws, _ = fit_images(pixels[None], target_psnr=target_psnr, max_steps=max_steps, seed=seed, on_step=progress)
    return ws


def fit_mesh(mesh, **options: Any) -> WeightSpace:
    """Fit ONE SDF INR (``sdf_spec((hidden, hidden))``, B = 1) to a mesh, or with ``field=True`` a colored density
    field (``field_spec((hidden, hidden))``: density in [0, 1] and the MeshShape's one color, ``MeshShape.color``).

    ``mesh``: a path (.obj/.ply/.stl/.glb/.gltf/.off, Draco-compressed .glb too), a ``trimesh.Trimesh`` or a
    ``trimesh.Scene`` (its parts placed by their transforms and concatenated, as scene files load). It is
    repaired and normalized by :func:`dws_edit.data.meshes.prepare_mesh` (centered, longest side 1.6, so it lies
    in [-0.8, 0.8]^3) and its signed distance taken by :class:`~dws_edit.data.meshes.MeshShape` (generalized
    winding numbers: holes, flipped faces and overlapping parts are tolerated with a ``MeshWarning``), then fitted
    by :func:`fit_shape`, whose keyword ``options`` it takes (``hidden``, ``points``, ``max_steps``, ``lr``,
    ``target_rmse``, ``seed``, ``progress``, ``field``; Adam on fixed samples, half near the surface). The shipped SDF
    edit models were trained on width 32 (the default); wider INRs are more faithful (``dws-edit bench mesh-fit``
    measures Chamfer distance and time per width). Raises ValueError (one line) for an unreadable file, a mesh
    that cannot give an SDF (no faces, NaN vertices, nothing enclosed), or an unknown or out-of-range option.
    """
    import inspect

    import trimesh

    from dws_edit.data.meshes import MeshShape, prepare_mesh, scene_to_mesh

    accepted = [k for k in inspect.signature(fit_shape).parameters if k != "shape"]
    if unknown := sorted(set(options) - set(accepted)):
        raise ValueError(f"fit_mesh: unknown option(s) {unknown}; accepted: {', '.join(accepted)}")
    if isinstance(mesh, trimesh.Scene):  # as mesh files with scenes load
        mesh = scene_to_mesh(mesh)
        if mesh is None:
            raise ValueError("fit_mesh: the trimesh.Scene holds no triangle meshes")
    if isinstance(mesh, trimesh.Trimesh):
        shape = MeshShape(prepare_mesh(mesh))
    elif isinstance(mesh, str | Path):
        shape = MeshShape.from_path(mesh)
    else:
        raise ValueError(
            f"fit_mesh takes a mesh file path, a trimesh.Trimesh or a trimesh.Scene, not {type(mesh).__name__}"
        )
    return fit_shape(shape, **options)


def fit_shape(
    shape,
    hidden: int = 32,
    points: int = 32768,
    max_steps: int = 2000,
    lr: float = 3e-3,
    target_rmse: float = 0.0,
    seed: int = 0,
    progress=None,
    field: bool = False,
) -> WeightSpace:
    """Fit ONE SDF INR (``sdf_spec((hidden, hidden))``, B = 1) to anything with ``.sdf(points [N, 3]) -> [N]`` in
    its own coordinates (a procedural :class:`~dws_edit.data.shapes.Shape`, a ``MeshShape``): ``points`` fixed
    samples, half near the surface (:func:`~dws_edit.data.shapes.sample_sdf_points`), Adam (``lr``) for at most
    ``max_steps`` steps or until the RMSE reaches ``target_rmse``; ``progress(fraction)`` is called after every
    step. ``lr`` is the 3-D zoos' rate (``dws_edit.data.sources.SHAPE_FIT_DEFAULTS``), so that the INR lies where
    the shipped 3-D edit models were trained: fitted at 1e-3, an INR's last bias lay far outside their training
    zoo and the learned edits broke (``scripts/fit_rate_check.py``; docs/edit-model-history.md).
    ``field``: a colored density field instead (``field_spec((hidden, hidden))``, outputs density and RGB in
    [0, 1], the targets of :func:`~dws_edit.data.fields.field_targets`, so the shape needs ``.colors`` too).
    Raises ValueError for a width or a step count below 1, or fewer than MIN_POINTS points."""
    from dws_edit.data.fields import sample_field_points
    from dws_edit.data.shapes import sample_sdf_points
    from dws_edit.inr import field_spec, fit, sdf_spec

    at_least("hidden", hidden, 1)
    at_least("points", points, MIN_POINTS)
    at_least("max_steps", max_steps, 1)
    positive_number("lr", lr, high=1.0)
    positive_number("target_rmse", target_rmse, zero=True)
    if not isinstance(field, bool):
        raise ValueError(f"field={field!r}: expected True (a colored density field) or False (an SDF)")
    g = torch.Generator().manual_seed(seed)
    if field:
        (coords, targets), spec = sample_field_points(shape, points, g), field_spec((hidden, hidden))
    else:
        (coords, sdf), spec = sample_sdf_points(shape, points, g), sdf_spec((hidden, hidden))
        targets = sdf[:, None]
    result = fit(spec, coords, targets[None], target_rmse**2, max_steps, lr, seed, on_step=progress)
    return result.ws


def classify(ws: WeightSpace, model: str | torch.nn.Module = "fmnist-classifier") -> list[dict]:
    """The class of each image INR of ``ws`` [B, 1, ...] by a shipped INR classifier (``fmnist-classifier``,
    ``mnist-classifier``), a checkpoint file of ``dws-edit train classify`` or such a model already loaded
    (``load_model``): one dict per INR with ``class`` (index), ``label`` (its name), ``probability`` (softmax) and
    ``count`` (B). The classifier reads the weights and, as its card says, the INR's values at probe points;
    docs/tasks.md has its measured accuracy. Raises ValueError (one line) for a model that is not an INR classifier
    or does not accept INRs of this spec."""
    from dws_edit.checkpoints import label_inrs, shipped_model

    if isinstance(model, torch.nn.Module):
        return label_inrs(model, ws, getattr(model, "card", {}).get("name", type(model).__name__))
    return label_inrs(shipped_model(model, "classify"), ws, model)
