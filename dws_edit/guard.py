"""The never-worse guard of learned edits (:func:`guard`: the edit's own loss against its exact target, for the
output and for the INR left as it is; refine steps where the output is not clearly better; the better of the two
returned, with a one-line warning) and the learned edit as ``dws_edit.edit`` runs it (:func:`run_learned`: refit,
the model's pass, compaction, refine, guard). Issue 32: no learned edit returns an output worse than no edit.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from dws_edit.checks import at_least
from dws_edit.compact import check_width, compact
from dws_edit.edits import EditDef
from dws_edit.edits.exact import pad_hidden
from dws_edit.inr import evaluate
from dws_edit.inr.domains import get_domain
from dws_edit.metrics import iou, occupancy
from dws_edit.ood import check_training_data, with_check
from dws_edit.runner import POINTS, edit_targets, refine, refit, run_edit_model, source_targets
from dws_edit.weights import NetworkSpec, WeightSpace

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
    judged_by: str = ""
    """What ``loss_*`` are (:data:`JUDGES`, :func:`judge`): for SDFs 1 - IoU against the target, for colored fields
    the MSE of rendered views, for images the MSE at the pixel grid."""
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
        judged = f" ({self.judged_by})" if self.judged_by else ""
        return (
            f"guard: {counts}; loss{judged} {losses}, returned {mean(self.loss_out):.3g}; {self.refine_steps} guard "
            + (f"refine steps, {self.seconds:.2f} s{note}")
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
    behind = lambda losses: (losses > CLEARLY_BETTER * no_edit) | (losses >= no_edit)  # noqa: E731
    current, best, best_loss, done = out, out, first.clone(), 0
    while done < steps and bool((todo := (behind(best_loss) & (no_edit > 0)).nonzero().flatten()).numel()):
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
        exact = int((no_edit[late] == 0).sum())
        exact = f" ({exact} already the edit's target)" if exact else ""
        warnings.warn(
            f"the learned {edit.name} was not clearly better than no edit on {len(late)} of {given.batch_size} "
            f"INR(s) after {done} refine steps: {len(worse)} returned as they were{exact}, {len(late) - len(worse)} "
            "edited but less than 10% closer to the target (see the guard report)",
            stacklevel=3,
        )
    loss_wide = tuple(loss(wide).tolist()) if wide is not None else ()
    report = GuardReport(edit.name, tuple(outcome), tuple(no_edit.tolist()), tuple(first.tolist()),
                         tuple(best_loss.tolist()), done, time.perf_counter() - started, loss_wide=loss_wide,
                         judged_by=JUDGES[judge(edit, given.spec)], **widths)  # fmt: skip
    return best.check_finite(), report


VIEW_CHECK = {"views": 3, "size": 32, "samples": 64}
"""How the guard sees a rendered domain's INRs (colored fields, NeRF runs): :func:`dws_edit.render.render_field_views`
with these settings, the smooth target at its ``"preview"`` quadrature."""


GUARD_GRID = 64
"""Points per side of the jittered grid where the guard judges SDF edits by IoU (:func:`guard_loss`)."""
JUDGES = {"iou": f"1 - IoU at a jittered {GUARD_GRID}^3 grid", "views": "MSE of rendered views",
          "points": "MSE at the 28x28 grid, or an SDF's surface loss at 4,096 points"}  # fmt: skip
"""What the guard judges an edit by (:func:`judge`), in words."""


def judge(edit: EditDef, spec: NetworkSpec) -> str:
    """Which of :data:`JUDGES` the guard (:func:`guard_loss`) judges an edit of INRs of ``spec`` by: ``"views"``
    for a rendered domain (colored fields), ``"iou"`` for other domains with a surface (SDFs) where the edit's
    target is cheap (not an integral), ``"points"`` otherwise (images; smooth of an SDF, whose exact target costs
    729 evaluations a point)."""
    domain = get_domain(spec)
    if domain.rendered:
        return "views"
    return "iou" if domain.has_surface and not edit.quadrature else "points"


def guard_loss(edit: EditDef, given: WeightSpace, params: dict, points: int = POINTS, seed: int = 1):
    """The guard's loss of INRs against the exact edit of ``given`` (float32): ``loss(ws) -> [B]``, by
    :func:`judge`. ``"iou"`` (SDFs): 1 - the IoU of their occupancy and the target's on the :data:`GUARD_GRID`^3
    grid over the cube jittered with ``seed`` (:func:`dws_edit.metrics.occupancy`), what a mesh of the result shows;
    measured (docs/benchmarks.md, "The guard judges SDFs by IoU") against the surface loss at 4,096 points half near
    the source's surface, which let edits through that lost IoU to no edit away from the edit. ``"points"``: the
    domain's loss (``Domain.refine_loss``: for SDFs the surface loss,
    :func:`dws_edit.inr.losses.sdf_surface_loss`; for images the MSE) against the target at the 28x28 grid or at
    ``points`` points half near the surface (drawn with ``seed``). Judged by the MSE, 100 surface-loss refine steps
    that raised 32 held-out SDFs' IoU of a symmetrize from 0.62 to 0.92 were mostly undone (0.58; docs/benchmarks.md,
    "SDF refine loss"). ``"views"``: the MSE of volume-rendered views (:data:`VIEW_CHECK`) against the target's
    views, as a viewer sees them: at points, a field's density errors count alike at any density and its colors
    count in empty space, while on screen a density error of 0.01 in empty space shows (a ray crossing 1 unit of it
    loses 63% of its light) and colors there do not. Measured on NeRFs trained from images by ``ns-train dws-nerf``
    (docs/nerf.md): a DWS symmetrize 4.5x better than no edit at points rendered 1.8 dB worse."""
    from dws_edit.render import render_field_views

    domain = get_domain(given.spec)
    how = judge(edit, given.spec)
    if how == "iou":
        grid = lambda fn: occupancy(fn, domain, GUARD_GRID, jitter=seed)  # noqa: E731
        options = edit.target_options(domain.name)
        target = grid(lambda p: edit_targets(edit, given, p, params, domain.name, **options))
        return lambda w: 1 - iou(grid(lambda p: evaluate(w.to(torch.float32), p)), target)
    if how == "points":
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
    ``refine_steps`` refine steps aimed at the edit of ``ws`` as given (where none are asked and the pass is only a
    start: with the guard on, the domain's ``start_steps``, 200 for SDFs, :class:`~dws_edit.inr.domains.Domain`;
    else :data:`GUARD_STEPS` for a mode the model was not trained on, where on NeRF runs a symmetrize union gains
    2.4 dB that way, docs/nerf.md; never for remove_part,
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
    start = get_domain(domain).start_steps if guard_steps is not None and not edit.from_generator else 0
    if not refine_steps:  # the pass is only a start (an SDF's, another mode's): refine steps finish it
        refine_steps = start or (GUARD_STEPS if mode_note else 0)
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


__all__ = ["CLEARLY_BETTER", "GUARD_GRID", "GUARD_ROUND", "GUARD_STEPS", "JUDGES", "VIEW_CHECK", "GuardReport",
           "guard", "guard_loss", "judge", "run_learned"]  # fmt: skip
