"""The edit API every front door calls: ``edit``, ``available_edits``, ``fit_image``, ``fit_mesh``.

Learned edits run a shipped one-pass model (``checkpoints/<domain>-<edit>``); exact edits are closed
forms on the weights (``dws_edit.edits.EXACT_EDITS``). Both take and return ``WeightSpace``.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

import torch

from dws_edit.checkpoints import available_models, load_model
from dws_edit.checks import at_least
from dws_edit.edits import EDITS, EXACT_EDITS, domain_of, get_edit, get_exact_edit
from dws_edit.weights import NetworkSpec, WeightSpace

# learned edits whose closed form exists under another name (edit(..., exact=True) picks it)
EXACT_NAMES = {"symmetrize": "symmetrize_exact"}


def available_edits() -> list[dict]:
    """Every edit: name, kind ("learned" or "exact"), domains, parameters, and for learned edits the
    shipped models with the INR spec each accepts. Learned edits without a shipped model are listed
    with ``models: []`` (their targets still serve training, evaluation and fine-tuning)."""
    models = available_models()
    out = []
    for name, e in EDITS.items():
        shipped = [
            {"name": m, "accepts": card.get("accepts")} for m, card in models.items() if card.get("edit") == name
        ]
        params = {d: [p.accepted() for p in e.params(d)] for d in e.domains}
        out.append(dict(name=name, kind="learned", summary=e.summary, domains=list(e.domains), params=params,
                        exact=EXACT_NAMES.get(name), models=shipped))  # fmt: skip
    for name, e in EXACT_EDITS.items():
        out.append(dict(name=name, kind="exact", summary=e.summary, domains=["image", "sdf", "field"], params=e.params))
    return out


@functools.lru_cache(maxsize=16)
def _model(name: str):
    return load_model(name)


def _accepts(card: dict, spec: NetworkSpec) -> bool:
    a = card["accepts"]
    mine = (spec.num_layers, spec.layer_sizes[0], spec.layer_sizes[-1], spec.activation, spec.w0, spec.output_offset)
    return mine == (a["depth"], a["d0"], a["dL"], a["activation"], a["w0"], a["output_offset"])


def _describe_accepts(a: dict) -> str:
    hidden = "x".join(str(h) for h in a["hidden_widths_trained"])
    return (
        f"{a['d0']}->[{a['depth'] - 1} hidden layers, trained at {hidden}]->{a['dL']} {a['activation']} "
        f"w0={a['w0']} offset {a['output_offset']}"
    )


def _check_model_fits(net, given, name: str, domain: str, spec: NetworkSpec) -> None:
    """A model given by the user (``edit(..., model=)``) must perform ``name`` on INRs like these (by its card;
    a model without a card is trusted). Raises ValueError in one line."""
    card = getattr(net, "card", None)
    if not card or "edit" not in card:
        return
    label = given if isinstance(given, str | Path) else card.get("name", type(net).__name__)
    if (card["edit"], card.get("domain")) != (name, domain):
        fits = [m for m, c in available_models().items() if (c.get("edit"), c.get("domain")) == (name, domain)]
        raise ValueError(
            f"model {label} performs {card['edit']!r} on {card.get('domain')} INRs, not {name!r} on {domain} INRs; "
            f"accepted: {', '.join(fits) or 'none shipped'}"
        )
    if "accepts" in card and not _accepts(card, spec):
        raise ValueError(
            f"model {label} accepts INRs {_describe_accepts(card['accepts'])}; this INR is {spec.layer_sizes} "
            f"{spec.activation} w0={spec.w0} offset {spec.output_offset}"
        )


def learned_model_for(ws: WeightSpace | NetworkSpec, name: str):
    """The shipped model that performs edit ``name`` on INRs of ``ws``'s spec (or of the spec ``ws``).

    Raises ValueError listing the accepted specs when no shipped model accepts this spec. Warns when
    the hidden widths differ from those seen in training (the layers are width-agnostic; the model
    card gives the measured quality on other widths).
    """
    get_edit(name)
    candidates = {m: c for m, c in available_models().items() if c.get("edit") == name}
    if not candidates:
        exact = "; use exact=True for its closed form" if name in EXACT_NAMES else ""
        raise ValueError(f"no shipped model performs the learned edit {name!r}{exact}")
    spec = ws if isinstance(ws, NetworkSpec) else ws.spec
    for model_name, card in candidates.items():
        if _accepts(card, spec):
            trained = tuple(card["accepts"]["hidden_widths_trained"])
            if spec.hidden_sizes != trained:
                warnings.warn(
                    f"{model_name} was trained on hidden widths {trained}; this INR has {spec.hidden_sizes} "
                    "(accepted: the layers are width-agnostic; see the model card for quality on other widths)",
                    stacklevel=3,
                )
            return _model(model_name)
    accepted = "; ".join(f"{m}: {_describe_accepts(c['accepts'])}" for m, c in candidates.items())
    s = spec
    shape = (s.num_layers, s.layer_sizes[0], s.layer_sizes[-1])
    same_shape = any(shape == tuple(c["accepts"][k] for k in ("depth", "d0", "dL")) for c in candidates.values())
    hint = " (only w0 or the offset differ: an imported SIREN may need --output-offset / w0)" if same_shape else ""
    if s.layer_sizes[0] == 3:  # a 3-D INR of any width, depth and w0 becomes one the models accept when refitted
        hint += "; or refit=True (dws-edit edit --refit) to fit it anew at the models' spec first"
    raise ValueError(
        f"no shipped model for {name!r} accepts INRs of spec {s.layer_sizes} ({s.activation}, w0={s.w0}, "
        f"offset {s.output_offset}); accepted: {accepted}{hint}"
    )


def edit(
    ws: WeightSpace,
    name: str,
    *,
    exact: bool = False,
    model: Any = None,
    refine: int = 0,
    refine_lr: float | None = None,
    refit: bool = False,
    **params,
) -> WeightSpace:
    """Edit INRs in weight space: ``ws`` (a batch, or one INR with B = 1) -> the edited INRs.

    ``name``: a learned edit (``smooth``, ``symmetrize``, ``remove``, ``dilate``: the forward pass of a shipped DWS
    model; a model trained with ``--gradient``, as the image models, also takes the gradient of the edit's MSE at
    the INR, against the edit's target on the 28x28 grid or at 4,096 points for 3-D, and one with ``--passes 2``
    takes it again at its first pass's output for a second pass) or an exact edit (``mirror``,
    ``translate``, ``rotate``, ``scale``, ``affine``, ``symmetrize_exact``, ``blend``: closed form, exact to float
    precision). ``exact=True`` picks the closed form of a learned edit where one exists (``symmetrize``). ``model``:
    a loaded edit model or a checkpoint path/name to use instead of the shipped one. ``refine``: after a learned
    edit's pass, this many Adam steps on the edit's functional target (:func:`dws_edit.refine.refine`, learning rate
    ``refine_lr``, default per domain; for one INR each step is one batched forward and backward pass at 784 or
    4,096 points). ``refit``: before a learned 3-D edit, fit the INR anew at width 32, w0 15, from zero biases
    (:func:`dws_edit.refine.refit`, seconds per INR; its spec is checked against the model first): for SIRENs
    fitted by other code, which lie outside the models' training data (README, "INRs fitted by other code");
    ``refine`` then still aims at the edit of the INR as given. ``params``: the edit's parameters (see
    ``available_edits()``), numbers shared by the batch or tensors with a leading [B].

    Returns a WeightSpace of the same batch size; learned models with output-capacity expansion and
    exact symmetrize/blend return wider hidden layers. Raises ValueError (one line) for an unknown
    edit, bad parameters, or an INR spec no model accepts.
    """
    if not isinstance(ws, WeightSpace):
        raise ValueError(f"edit() takes a WeightSpace (see dws_edit.load_inr / fit_image); got {type(ws).__name__}")
    if ws.channels != 1:
        raise ValueError(f"edit() takes INR weights with one channel; got {ws.channels} channels")
    if name not in EDITS and name not in EXACT_EDITS:
        raise ValueError(f"unknown edit {name!r}; accepted: learned {', '.join(EDITS)}; exact {', '.join(EXACT_EDITS)}")
    if exact or name in EXACT_EDITS:
        exact_name = EXACT_NAMES.get(name, name)
        if exact_name not in EXACT_EDITS:
            raise ValueError(
                f"edit {name!r} has no exact closed form; exact edits: {', '.join(EXACT_EDITS)} "
                f"(and {', '.join(EXACT_NAMES)} with exact=True)"
            )
        if refine:
            raise ValueError(f"refine applies to learned edits; {name!r} here is exact (nothing to refine)")
        if model is not None:
            raise ValueError(f"model applies to learned edits; {name!r} here is exact (no model runs)")
        if refit:
            raise ValueError(f"refit applies to learned edits; {name!r} here is exact (any INR edits as it is)")
        return _call_exact(exact_name, ws, params)
    definition = get_edit(name)
    domain = domain_of(ws.spec)
    definition.check_domain(domain)
    cond = definition.encode(params, domain, batch=ws.batch_size) if definition.cond_dim(domain) else None
    if cond is None and params:
        raise ValueError(f"edit {name!r} takes no parameters; got {sorted(params)}")
    from dws_edit.refine import refit as refit_inrs
    from dws_edit.refine import refit_spec

    spec = refit_spec(ws.spec) if refit else ws.spec  # the spec the model edits, checked before any refit
    if model is None:
        net = learned_model_for(spec, name)
    else:
        net = _model(str(model)) if not isinstance(model, torch.nn.Module) else model
        _check_model_fits(net, model, name, domain, spec)
    source = refit_inrs(ws) if refit else ws  # the INRs the model edits (refitted: the same functions)
    dtype = next(net.parameters()).dtype
    from dws_edit.tasks.run import run_edit_model

    with torch.no_grad():
        out = run_edit_model(net, source.to(dtype), None if cond is None else cond.to(dtype), definition, params)
    out = out.to(ws.dtype).check_finite()
    if refine:
        from dws_edit.refine import refine as refine_edit

        f32 = torch.float32
        out = refine_edit(ws.to(f32), out.to(f32), name, params, refine, refine_lr).to(ws.dtype).check_finite()
    return out


def _call_exact(name: str, ws: WeightSpace, params: dict) -> WeightSpace:
    """Run an exact edit after checking its parameters against its signature (one-line errors)."""
    import inspect

    spec = get_exact_edit(name)
    signature = inspect.signature(spec.fn).parameters
    names = list(signature)[1:]  # the first is the INR itself
    required = [n for n in names if signature[n].default is inspect.Parameter.empty]
    unknown = sorted(set(params) - set(names))
    missing = [n for n in required if n not in params]
    if unknown or missing:
        what = f"unknown parameter(s) {unknown}" if unknown else f"missing parameter(s) {missing}"
        accepted = "; ".join(f"{k}: {v}" for k, v in spec.params.items())
        raise ValueError(f"exact edit {name!r}: {what}; accepted: {accepted}")
    return spec.fn(ws, **params)


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
    (channels=3), resized to size x size (box filter when shrinking, LANCZOS when enlarging), clipped to
    [0, 1]. Fitting stops at ``target_psnr`` dB or ``max_steps``; ``progress(fraction)`` is called after
    every step. Raises ValueError (one line) for an unreadable file, an unaccepted array or max_steps below 1.
    """
    from dws_edit.data.images import image_to_tensor
    from dws_edit.inr import fit_images

    at_least("max_steps", max_steps, 1)
    pixels = image_to_tensor(image, size, channels)
    ws, _ = fit_images(pixels[None], target_psnr=target_psnr, max_steps=max_steps, seed=seed, on_step=progress)
    return ws


def fit_mesh(mesh, **options: Any) -> WeightSpace:
    """Fit ONE SDF INR (``sdf_spec((hidden, hidden))``, B = 1) to a mesh.

    ``mesh``: a path (.obj/.ply/.stl/.glb/.gltf/.off, Draco-compressed .glb too), a ``trimesh.Trimesh`` or a
    ``trimesh.Scene`` (its parts placed by their transforms and concatenated, as scene files load). It is
    repaired and normalized by :func:`dws_edit.data.meshes.prepare_mesh` (centered, longest side 1.6, so it lies
    in [-0.8, 0.8]^3) and its signed distance taken by :class:`~dws_edit.data.meshes.MeshShape` (generalized
    winding numbers: holes, flipped faces and overlapping parts are tolerated with a ``MeshWarning``), then fitted
    by :func:`fit_shape`, whose keyword ``options`` it takes (``hidden``, ``points``, ``max_steps``, ``lr``,
    ``target_rmse``, ``seed``, ``progress``; Adam on fixed samples, half near the surface). The shipped SDF edit
    models were trained on width 32 (the default); wider INRs are more faithful (``dws-edit bench mesh-fit``
    measures Chamfer distance and time per width). Raises ValueError (one line) for an unreadable file, a mesh
    that cannot give an SDF (no faces, NaN vertices, nothing enclosed), or an unknown or out-of-range option.
    """
    import inspect

    import trimesh

    from dws_edit.data.meshes import MeshShape, prepare_mesh, scene_to_mesh

    accepted = [k for k in inspect.signature(fit_shape).parameters if k not in ("shape", "field")]
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
    g = torch.Generator().manual_seed(seed)
    if field:
        (coords, targets), spec = sample_field_points(shape, points, g), field_spec((hidden, hidden))
    else:
        (coords, sdf), spec = sample_sdf_points(shape, points, g), sdf_spec((hidden, hidden))
        targets = sdf[:, None]
    result = fit(spec, coords, targets[None], target_rmse**2, max_steps, lr, seed, on_step=progress)
    return result.ws
