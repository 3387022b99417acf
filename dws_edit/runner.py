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

import dataclasses
import numbers
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from dws_edit.checks import at_least
from dws_edit.compact import check_width, compact, fit_function, function_points
from dws_edit.distributed import unwrap
from dws_edit.edits import EditDef, get_edit
from dws_edit.edits.exact import pad_hidden
from dws_edit.inr import evaluate, fit
from dws_edit.inr.domains import get_domain
from dws_edit.ood import check_training_data, with_check
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
                   generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Where the loss of an edit of ``ws`` is taken and its exact target there: ``(coords, target)``; the 28x28
    grid for images, ``points`` points half near each INR's surface for 3-D (drawn with ``generator``). Raises
    ValueError for an edit whose target is not a function of the INR (remove_part)."""
    edit.check_from_source("the edit's target at the INR")
    domain = get_domain(ws.spec)
    coords = domain.edit_points(ws, points, generator or torch.Generator().manual_seed(0))
    return coords, edit_targets(edit, ws, coords, params, domain.name, **edit.target_options(domain.name))


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
    near the source's surface (images use the 28x28 grid, where image edits are defined and measured: between pixels
    the refined INR is as unconstrained as a fit to the pixels); ``on_step(fraction)`` after each step. Returns the
    refined INRs (the spec of ``edited``). Raises ValueError (one line) for steps outside [0, 10000], a learning rate
    outside (0, 1), or an edit whose target is not a function of the source (remove_part: the generator's exact
    shape; on the app's built-in mug refining toward it at these points lowered the IoU against it).
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
    coords, target = source_targets(definition, source, params, points, torch.Generator().manual_seed(seed))
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


GUARD_STEPS = 100
"""Most refine steps the never-worse guard (:func:`guard`) adds after a learned pass, in rounds of GUARD_ROUND."""
GUARD_ROUND = 25
CLEARLY_BETTER = 0.9
"""A learned edit counts as clearly better than no edit where its loss is at most this fraction of no edit's."""


@dataclass(frozen=True)
class GuardReport:
    """What the never-worse guard (:func:`guard`) found and did, per INR of the batch: the edit's loss
    (:func:`guard_loss`: the domain's loss against its exact target at the guard's points, or in rendered views)
    with no edit, after the model's pass (and the refine steps asked or given by default) and as returned, and the
    outcome:
    ``"pass"`` (the pass was clearly better), ``"refined"`` (refine steps made it so), ``"better, not clearly"``
    (the best of the pass and its refines beats no edit, by less than 10%), ``"no edit"`` (the INR came back as it
    was, at the output's widths), or ``"unchecked"`` (the target is not a function of the INR: remove_part), or for
    such an edit ``"unlike training data"`` (the model's training-data check flagged the INR, :mod:`dws_edit.ood`;
    ``note`` says by how much).

    Where the model's wide output was compacted to the input's widths (``width="input"``, :func:`run_learned`),
    ``loss_pass`` is the compacted INR's loss (what the guard judged and refined), ``loss_wide`` the wide output's,
    ``wide_widths`` its hidden widths and ``compact_seconds`` the compaction's time (not in ``seconds``); ``widths``:
    the hidden widths returned."""

    edit: str
    outcome: tuple[str, ...]
    loss_no_edit: tuple[float, ...] = ()
    loss_pass: tuple[float, ...] = ()
    loss_out: tuple[float, ...] = ()
    refine_steps: int = 0
    seconds: float = 0.0
    widths: tuple[int, ...] = ()
    wide_widths: tuple[int, ...] = ()
    loss_wide: tuple[float, ...] = ()
    compact_seconds: float = 0.0
    asked_refine: int = 0
    """Refine steps run after the pass and before the guard (asked with ``refine=``, or the default where the pass is
    only a start: :func:`run_learned`): ``loss_pass`` is after them."""
    note: str = ""
    """What of the request lay outside the model's training ("" where nothing): a mode it was not trained on (its
    pass was the start, the refine steps aimed at the mode's target), values beyond its trained ranges
    (:func:`dws_edit.checkpoints.training_notes`)."""

    def summary(self) -> str:
        """One line: the outcomes counted, the mean losses (with a compaction: the wide pass's, at its widths, and
        the compacted one's) and the time the guard took."""
        counts = ", ".join(f"{self.outcome.count(o)} {o}" for o in dict.fromkeys(self.outcome))
        compacted = f"; widths {self.wide_widths} compacted to {self.widths} in {self.compact_seconds:.2f} s"
        compacted = compacted if self.wide_widths else ""
        note = f"; {self.note}" if self.note else ""
        if not self.loss_no_edit:
            return f"guard: {counts} (no target computed from the INR for {self.edit}){compacted}{note}"
        mean = lambda v: sum(v) / len(v)  # noqa: E731
        asked = f" + {self.asked_refine} refine steps" if self.asked_refine else ""
        losses = f"no edit {mean(self.loss_no_edit):.3g}, pass{asked} {mean(self.loss_pass):.3g}"
        if self.loss_wide:
            losses = (f"no edit {mean(self.loss_no_edit):.3g}, pass {mean(self.loss_wide):.3g} at widths "
                      f"{self.wide_widths}, compacted to {self.widths} {mean(self.loss_pass):.3g} "
                      f"({self.compact_seconds:.2f} s)")  # fmt: skip
        return f"guard: {counts}; loss {losses}, returned {mean(self.loss_out):.3g}; {self.refine_steps} guard " + (
            f"refine steps, {self.seconds:.2f} s{note}"
        )

    def to_dict(self) -> dict:
        return asdict(self)


def guard(
    given: WeightSpace,
    source: WeightSpace,
    out: WeightSpace,
    edit: EditDef,
    params: dict,
    steps: int = GUARD_STEPS,
    points: int = POINTS,
    seed: int = 1,
    wide: WeightSpace | None = None,
    compact_seconds: float = 0.0,
) -> tuple[WeightSpace, GuardReport]:
    """Never worse than not editing: the learned ``edit``'s output ``out`` of ``source`` (the model's input: ``given``
    or its refit) checked against no edit by the edit's own loss, the MSE against its exact target computed from
    ``given`` at the 28x28 grid or ``points`` points half near the surface (drawn with ``seed``, apart from refine's).
    INRs whose pass is not clearly better (:data:`CLEARLY_BETTER`) get refine steps in rounds of :data:`GUARD_ROUND`,
    at most ``steps``, and each comes back as the best seen (the pass or a refine round); those still not clearly
    better come back so where that beats no edit, else as they were (``source`` at ``out``'s widths), with a one-line
    warning. Returns the INRs (``out``'s spec and dtype) and the :class:`GuardReport`. An edit whose target is not
    a function of the INR (remove_part) is returned unchecked. ``wide``: the model's output before ``out`` was
    compacted from it (``compact_seconds``), reported beside it (``loss_wide``); the guard judges ``out``."""
    started = time.perf_counter()
    widths = {"widths": out.spec.hidden_sizes, "compact_seconds": compact_seconds}
    widths["wide_widths"] = wide.spec.hidden_sizes if wide is not None else ()
    if edit.from_generator:
        return out, GuardReport(edit.name, ("unchecked",) * out.batch_size, **widths)
    f32 = torch.float32
    loss = guard_loss(edit, given.to(f32), params, points, seed)

    canon = edit.validate(params, get_domain(given.spec).name)
    no_edit, first = loss(given), loss(out)
    behind = lambda losses: losses > CLEARLY_BETTER * no_edit  # noqa: E731
    current, best, best_loss, done = out, out, first.clone(), 0
    while done < steps and bool(behind(best_loss).any()):
        todo = behind(best_loss).nonzero().flatten()
        n = min(GUARD_ROUND, steps - done)
        sub = {k: v[todo] if v.shape[0] > 1 else v for k, v in canon.items()}  # canonical: leading [B] or [1]
        tuned = refine(given[todo].to(f32), current[todo].to(f32), edit.name, sub, n, seed=done).to(out.dtype)
        current, done = _replace(current, todo, tuned), done + n
        now = loss(current)
        improved = (now < best_loss).nonzero().flatten()  # the best seen so far is what comes back
        best, best_loss = _replace(best, improved, current[improved]), torch.minimum(best_loss, now)
    outcome = ["pass" if not behind(first)[i] else "refined" for i in range(out.batch_size)]
    late = behind(best_loss).nonzero().flatten()
    if len(late):
        worse = late[best_loss[late] >= no_edit[late]]
        for i in late.tolist():
            outcome[i] = "better, not clearly"
        for i in worse.tolist():
            outcome[i] = "no edit"
        if len(worse):
            kept = pad_hidden(source, best.spec.hidden_sizes).to(out.dtype)
            best = _replace(best, worse, kept[worse])
            best_loss = loss(best)
        warnings.warn(
            f"the learned {edit.name} was not clearly better than no edit on {len(late)} of {given.batch_size} "
            f"INR(s) after {done} refine steps: {len(worse)} returned as they were, {len(late) - len(worse)} "
            "edited but less than 10% closer to the target (see the guard report)",
            stacklevel=3,
        )
    loss_wide = tuple(loss(wide).tolist()) if wide is not None else ()
    report = GuardReport(edit.name, tuple(outcome), tuple(no_edit.tolist()), tuple(first.tolist()),
                         tuple(best_loss.tolist()), done, time.perf_counter() - started, loss_wide=loss_wide,
                         **widths)  # fmt: skip
    return best.check_finite(), report


VIEW_CHECK = {"views": 3, "size": 32, "samples": 64}
"""How the guard sees a rendered domain's INRs (colored fields, NeRF runs): :func:`dws_edit.render.render_field_views`
with these settings, the smooth target at its ``"preview"`` quadrature."""


def guard_loss(edit: EditDef, given: WeightSpace, params: dict, points: int = POINTS, seed: int = 1):
    """The guard's loss of INRs against the exact edit of ``given`` (float32): ``loss(ws) -> [B]``. The domain's loss
    at points (``Domain.refine_loss``: for SDFs the surface loss, :func:`dws_edit.inr.losses.sdf_surface_loss`; for
    images the MSE) against the target at the 28x28 grid or at ``points`` points half near the surface (drawn with
    ``seed``). Judged by the MSE, 100 surface-loss refine steps that raised 32 held-out SDFs' IoU of a symmetrize
    from 0.62 to 0.92 were mostly undone (0.58; docs/benchmarks.md, "SDF refine loss"). For a rendered
    domain (colored fields) the MSE of volume-rendered views (:data:`VIEW_CHECK`) against the target's views, as a
    viewer sees them: at points, a field's density errors count alike at any density and its colors count in empty
    space, while on screen a density error of 0.01 in empty space shows (a ray crossing 1 unit of it loses 63% of
    its light) and colors there do not. Measured on NeRFs trained from images by ``ns-train dws-nerf`` (docs/nerf.md):
    a DWS symmetrize 4.5x better than no edit at points rendered 1.8 dB worse."""
    from dws_edit.render import render_field_views

    domain = get_domain(given.spec)
    if not domain.rendered:
        value = domain.refine_loss.value if domain.refine_loss else None
        coords, target = source_targets(edit, given, params, points, torch.Generator().manual_seed(seed))

        def at_points(w: WeightSpace) -> Tensor:
            with torch.no_grad():
                out = evaluate(w.to(torch.float32), coords)
                return value(out, target) if value else (out - target).square().flatten(1).mean(1)

        return at_points
    options = edit.target_options(domain.name, "preview")
    target = render_field_views(lambda p: edit_targets(edit, given, p, params, domain.name, **options), **VIEW_CHECK)

    def in_views(w: WeightSpace) -> Tensor:
        w = w.to(torch.float32)
        return (render_field_views(lambda p: evaluate(w, p), **VIEW_CHECK) - target).square().flatten(1).mean(1)

    return in_views


def _replace(ws: WeightSpace, index: Tensor, new: WeightSpace) -> WeightSpace:
    """``ws`` with its INRs at ``index`` replaced by ``new`` (same spec)."""
    weights = [w.index_copy(0, index, nw) for w, nw in zip(ws.weights, new.weights, strict=True)]
    biases = [b.index_copy(0, index, nb) for b, nb in zip(ws.biases, new.biases, strict=True)]
    return WeightSpace(ws.spec, tuple(weights), tuple(biases))


def run_learned(
    net,
    ws: WeightSpace,
    edit: EditDef,
    params: dict,
    refine_steps: int = 0,
    refine_lr: float | None = None,
    refit_first: bool = False,
    guard_steps: int | None = GUARD_STEPS,
    on_step: Callable[[float], None] | None = None,
    width: str = "input",
) -> tuple[WeightSpace, GuardReport | None]:
    """The learned ``edit`` of the INRs ``ws`` by the model ``net``: refit first (``refit_first``), the model's pass
    in its dtype, with ``width="input"`` (:data:`dws_edit.compact.WIDTHS`) its output compacted back to the hidden
    widths of the INRs it edited (:func:`dws_edit.compact.compact` from them: about 0.1 s an INR), then
    ``refine_steps`` refine steps aimed at the edit of ``ws`` as given (:data:`GUARD_STEPS` where none are asked
    and the pass is only a start: a mode the model was not trained on, where on NeRF runs a symmetrize union gains
    2.4 dB that way, docs/nerf.md; or, with the guard on, a domain whose ``pass_is_a_start``, SDFs, where the
    held-out IoU of remove goes from 0.748 to 0.909, :class:`~dws_edit.inr.domains.Domain`; never for remove_part,
    whose target is not a function of the INR), then the never-worse :func:`guard` with at most ``guard_steps`` more
    (None: no guard), which judges what is returned. Returns INRs of ``ws``'s dtype (the
    model's dtype rule) and the guard's report (None without a guard). ``on_step(fraction)`` after each refine step.
    Raises ValueError (one line) for bad parameters, an unknown ``width`` or non-finite outputs."""
    check_width(width)
    domain = get_domain(ws.spec).name
    cond = edit.encode(params, domain, batch=ws.batch_size) if edit.cond_dim(domain) else None
    if cond is None and params:
        raise ValueError(f"edit {edit.name!r} takes no parameters; got {sorted(params)}")
    if guard_steps is not None:
        at_least("guard", guard_steps, 0)
    mode_note, notes = _training_notes(net, edit, params, domain, guard_steps)
    start_only = mode_note or (
        guard_steps is not None and get_domain(domain).pass_is_a_start and not edit.from_generator
    )
    if start_only and not refine_steps:  # the pass is only a start (another mode's, an SDF's): refine steps finish it
        refine_steps = GUARD_STEPS
    source = refit(ws) if refit_first else ws  # the INRs the model edits (refitted: the same functions)
    unlike = check_training_data(net, source, cond, edit)  # remove_part: warns where unlike its training data
    work = torch.promote_types(ws.dtype, torch.float32)  # float16 / bfloat16 in float32: as the model edits them
    with torch.no_grad():
        out = run_edit_model(net, source.to(work), cond, edit, params).check_finite()
    wide, compact_seconds = None, 0.0
    if width == "input" and out.spec.hidden_sizes != source.spec.hidden_sizes:
        started = time.perf_counter()
        wide, out = out, compact(out, source.spec.hidden_sizes, init=source.to(work)).check_finite()
        compact_seconds = time.perf_counter() - started
    out = out.to(ws.dtype)
    if refine_steps:
        f32 = torch.float32
        out = refine(ws.to(f32), out.to(f32), edit.name, params, refine_steps, refine_lr, on_step=on_step)
        out = out.to(ws.dtype).check_finite()
    if guard_steps is None:
        return out, None
    edited, report = guard(ws, source, out, edit, params, guard_steps, wide=wide, compact_seconds=compact_seconds)
    return edited, with_check(dataclasses.replace(report, note=notes, asked_refine=refine_steps), *unlike)


def _training_notes(net, edit: EditDef, params: dict, domain: str, guard_steps: int | None) -> tuple[str, str]:
    """What of the request lies outside the model's training (:func:`dws_edit.checkpoints.training_notes`), one
    warning line each: ``(mode note, all notes joined for the guard's report)``. Raises ValueError (one line) for
    a mode the model was not trained on without the guard's refine steps (its pass alone would be another mode's
    edit)."""
    from dws_edit.checkpoints import training_notes

    mode_note, range_note = training_notes(getattr(net, "card", None), edit, params, domain)
    if mode_note and not guard_steps:
        raise ValueError(f"{mode_note.split(':')[0]}; accepted: the guard with refine steps (guard=N > 0, --guard N)")
    for note in filter(None, (mode_note, range_note)):
        warnings.warn(note, stacklevel=4)
    return mode_note, "; ".join(filter(None, (mode_note, range_note)))


__all__ = ["DEFAULT_LR", "GUARD_STEPS", "REFIT_DEFAULTS", "GuardReport", "edit_targets", "edited_values", "guard",
           "refine", "refit", "refit_spec", "run_edit_model", "run_learned", "source_targets"]  # fmt: skip
