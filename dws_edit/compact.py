"""Widths that do not run away: an INR's function fitted at other hidden widths (compaction), the one fitting path
of :func:`compact` and :func:`dws_edit.runner.refit`.

Every shipped learned edit returns hidden widths x 2 (two edited networks averaged, or the kept source plus a
correction), and so do the exact symmetrize and blend: chained, widths grow 32 -> 64 -> ... -> 2048
(``dws_edit.api.MAX_HIDDEN``), and the edit models, trained at width 32, edit the wide INRs worse at every step
(``dws-edit bench chain``). :func:`compact` brings an INR back to a working width by fitting its values with Adam,
best started from an INR of the target widths whose function is near (the pre-edit source of a learned edit).

Defaults (:data:`COMPACT_DEFAULTS`), measured on 16 zoos/mnist5k test INRs (image-dilate, image-symmetrize,
image-smooth) and 4 procedural shapes (sdf-smooth, sdf-symmetrize, sdf-remove_sphere), width 64 -> 32, loss
against the edit's exact target at the guard's points:

- warm start from the source against a fresh SIREN initialisation: images at 200 steps, loss within 0.5% of the wide
  output's either way on the pixel grid, but between pixels (112x112) the fresh start was 7-10x farther from the
  wide function; 3-D at 200 steps the fresh start's loss was 1.03-5.5x the wide output's, the warm start's
  0.97-1.01x (its values 10-4000x closer);
- images: the 28x28 pixel grid alone keeps the grid exactly (1e-5 in 200 steps) but lets the function drift
  between pixels (MSE 3e-3 to the wide function at 112x112); with a 56x56 grid added, 3e-4, at 0.1 s an INR;
- 3-D: 4,096 points (half near the surface) at Adam 3e-4, 200 steps: 0.1 s an INR; 16,384 points gave the same
  losses (within 1%) at 4x the time, 1e-3 a 1-5% higher loss.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from dws_edit.checks import at_least, positive_number
from dws_edit.inr import evaluate, fit
from dws_edit.inr.domains import IMAGE_GRID, get_domain
from dws_edit.inr.siren import grid_coords
from dws_edit.weights import NetworkSpec, WeightSpace

COMPACT_DEFAULTS = {
    "image": {"steps": 200, "lr": 1e-3, "points": 56},
    "sdf": {"steps": 200, "lr": 3e-4, "points": 4096},
    "field": {"steps": 200, "lr": 3e-4, "points": 4096},
}
"""How :func:`compact` fits per domain (see the module's docstring for the measurements): Adam steps, learning rate,
and ``points``: for images the side of a finer grid fitted together with the 28x28 pixel grid, for 3-D the sample
points per INR, half near its surface."""
WIDTHS = ("input", "wide")
"""What a learned edit returns (``dws_edit.edit(width=...)``, ``dws-edit edit --width``): ``"input"`` the hidden
widths of the INR the model edited (its output compacted back), ``"wide"`` the model's output as it is (widths x 2)."""
COMPACT_SEED = 2
"""Seed of compaction's 3-D points: apart from refine's (0) and the guard's (1), so the guard judges at other points."""


def check_width(width) -> None:
    """Raise ValueError (one line) unless ``width`` is one of :data:`WIDTHS`."""
    if not (isinstance(width, str) and width in WIDTHS):
        raise ValueError(f"width={width!r} is not accepted; accepted: {' or '.join(map(repr, WIDTHS))} (the input's "
                         "hidden widths, compacted back, or the edit's wide output)")  # fmt: skip


def function_points(ws: WeightSpace, points: int, seed: int) -> Tensor:
    """Where the function of the INRs ``ws`` [B] is fitted: for images the 28x28 pixel grid and a ``points`` x
    ``points`` grid (0: the pixel grid alone), ``[M, 2]``; for 3-D ``points`` points per INR half near its surface
    (:meth:`~dws_edit.inr.domains.Domain.edit_points`, drawn with ``seed``), ``[B, points, 3]``."""
    domain = get_domain(ws.spec)
    if domain.has_surface:
        return domain.edit_points(ws.to(torch.float32), points, torch.Generator().manual_seed(seed))
    pixels = grid_coords(IMAGE_GRID, IMAGE_GRID)
    return torch.cat([pixels, grid_coords(points, points)]) if points else pixels


def fit_function(
    ws: WeightSpace,
    spec: NetworkSpec,
    coords: Tensor,
    steps: int,
    lr: float,
    seed: int = 0,
    init: WeightSpace | None = None,
    on_step: Callable[[float], None] | None = None,
) -> WeightSpace:
    """INRs of ``spec`` fitted to the values of ``ws`` [B] at ``coords`` ([M, d0] or [B, M, d0]): ``steps`` Adam
    steps at rate ``lr`` (:func:`dws_edit.inr.fit`, every INR of the batch at once), from ``init`` (B = 1 or B) or
    else SIREN's initialisation drawn with ``seed``. Returns [B] of ``spec`` in ``ws``'s dtype."""
    source = ws.to(torch.float32)
    with torch.no_grad():
        targets = evaluate(source, coords)
    start = None if init is None else init.to(torch.float32)
    result = fit(spec, coords, targets, 0.0, steps, lr, seed, init=start, chunk=ws.batch_size, on_step=on_step)
    return result.ws.to(ws.dtype)


def compact_spec(spec: NetworkSpec, hidden_sizes: Sequence[int]) -> NetworkSpec:
    """``spec`` with hidden widths ``hidden_sizes``. Raises ValueError (one line) unless they are positive integers,
    one per hidden layer of ``spec``."""
    hidden = tuple(hidden_sizes) if isinstance(hidden_sizes, Sequence) and not isinstance(hidden_sizes, str) else None
    ok = hidden is not None and len(hidden) == len(spec.hidden_sizes)
    if not ok or any(isinstance(h, bool) or not isinstance(h, numbers.Integral) or h < 1 for h in hidden):
        raise ValueError(f"compact: hidden_sizes={hidden_sizes!r} is not accepted; accepted: "
                         f"{len(spec.hidden_sizes)} integers >= 1, one per hidden layer")  # fmt: skip
    return NetworkSpec((spec.layer_sizes[0], *map(int, hidden), spec.layer_sizes[-1]), spec.activation, spec.w0,
                       spec.output_offset)  # fmt: skip


def compact(
    ws: WeightSpace,
    hidden_sizes: Sequence[int],
    steps: int | None = None,
    points: int | None = None,
    lr: float | None = None,
    init: WeightSpace | None = None,
    seed: int = COMPACT_SEED,
    on_step: Callable[[float], None] | None = None,
) -> WeightSpace:
    """The functions of the INRs ``ws`` [B] (any domain, width and dtype) fitted at hidden widths ``hidden_sizes``
    (one per hidden layer; same depth, activation, w0 and output offset): ``steps`` Adam steps at rate ``lr`` on
    their values at fixed points (:func:`function_points`: images the 28x28 pixel grid plus a ``points`` x
    ``points`` grid, 3-D ``points`` points per INR half near the surface, drawn with ``seed``). Defaults per domain:
    :data:`COMPACT_DEFAULTS`, about 0.1 s an INR here (2 CPU cores).

    ``init``: INRs of the result's spec (B = 1 or B) to start from, best ones whose function is near (for a learned
    edit, the pre-edit source: :func:`dws_edit.guard.run_learned` does so); None: SIREN's initialisation drawn
    with ``seed``, much farther in the same steps (module docstring). ``on_step(fraction)`` after each step.
    Returns [B] in ``ws``'s dtype; not exact: the fit's error adds to an edit's (the guard judges the compacted
    INR). Raises ValueError (one line) for widths that are not one positive integer per hidden layer, a step count
    below 1, a point count below 1 (3-D) or 0 (images), a learning rate outside (0, 1), or an ``init`` of another
    spec or batch size."""
    spec = compact_spec(ws.spec, hidden_sizes)
    defaults = COMPACT_DEFAULTS[get_domain(ws.spec).name]
    steps = defaults["steps"] if steps is None else steps
    points = defaults["points"] if points is None else points
    lr = defaults["lr"] if lr is None else lr
    at_least("steps", steps, 1)
    at_least("points", points, 1 if get_domain(ws.spec).has_surface else 0)
    positive_number("lr", lr, high=1.0)
    if init is not None and init.spec != spec:
        raise ValueError(f"compact: init of spec {init.spec.layer_sizes} (w0 {init.spec.w0}) is not accepted; "
                         f"accepted: INRs of the result's spec {spec.layer_sizes} (w0 {spec.w0})")  # fmt: skip
    if init is not None and init.batch_size not in (1, ws.batch_size):
        raise ValueError(f"compact: {init.batch_size} init INRs for {ws.batch_size} INRs; accepted: 1 or one each")
    coords = function_points(ws, points, seed)
    return fit_function(ws, spec, coords, steps, lr, seed, init, on_step)


__all__ = ["COMPACT_DEFAULTS", "WIDTHS", "check_width", "compact", "compact_spec", "fit_function", "function_points"]
