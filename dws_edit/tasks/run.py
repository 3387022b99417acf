"""Running an edit model on INRs: where an edit is trained and measured (the pixel grid, 3-D points near the
surface), its parameters and exact targets there, and the model's output with the loss gradient it may take.
Training (``dws_edit.tasks.edit``), the benches, ``dws_edit.edit``, refine and the demo all run edits through here.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dws_edit.edits import domain_of
from dws_edit.edits.targets import PART_GROUPS, part_group_of
from dws_edit.inr import evaluate
from dws_edit.nn import EditNet
from dws_edit.weights import WeightSpace


def sample_coords(domain: str, spec) -> Tensor:
    """The fixed pixel grid where image edits are trained and measured: 28x28 over [-1, 1]^2 ([784, 2])."""
    from dws_edit.inr import grid_coords

    if domain != "image":
        raise ValueError(f"{domain} INRs have no fixed grid; their points come from sample_points")
    return grid_coords(28, 28)


@torch.no_grad()
def sample_points(ws: WeightSpace, domain: str, m: int, generator: torch.Generator, near: float = 0.5) -> Tensor:
    """Where a 3-D edit is trained and measured: ``[B, m, 3]`` points per INR, a fraction ``near`` close to its
    surface (of 4x as many uniform candidates, those where the SDF, or the density minus 1/2, is smallest in
    magnitude, jittered by N(0, 0.02^2)), the rest uniform in [-1, 1]^3."""
    n, m_near = ws.batch_size, int(round(m * near))
    uniform = torch.rand(n, m - m_near, 3, generator=generator) * 2 - 1
    candidates = torch.rand(n, 4 * m_near, 3, generator=generator) * 2 - 1
    with torch.autocast("cpu", enabled=False):
        values = evaluate(ws.to(torch.float32), candidates)
    return torch.cat([uniform, closest_to_surface(candidates, values, domain, m_near, generator)], dim=1)


def closest_to_surface(candidates: Tensor, values: Tensor, domain: str, m: int, generator: torch.Generator) -> Tensor:
    """The ``m`` candidates ``[B, M', 3]`` per INR whose values ``[B, M', dL]`` are closest to the surface (the SDF,
    or the density minus 1/2, smallest in magnitude), jittered by N(0, 0.02^2) and kept in [-1, 1]^3: ``[B, m, 3]``."""
    level = values[..., 0] - 0.5 if domain == "field" else values[..., 0]
    idx = level.abs().topk(m, dim=1, largest=False).indices
    close = candidates.gather(1, idx[..., None].expand(-1, -1, 3))
    return (close + torch.randn(close.shape, generator=generator) * 0.02).clamp(-1, 1)


def edit_params(edit, n: int, generator: torch.Generator, domain: str, shapes: list | None = None) -> dict:
    """``n`` parameter sets for training or evaluation: drawn from the edit's ranges, except for ``remove_part``,
    whose part group is the one each INR's procedural shape has (``shapes``, one per INR)."""
    if edit.name != "remove_part":
        return edit.sample(n, generator, domain)
    groups = list(PART_GROUPS)
    return {"part": torch.tensor([groups.index(part_group_of(s.family)) for s in shapes])}


def target_options(edit, domain: str, shapes: list | None = None, exact: bool = True) -> dict:
    """Keyword options of an edit's target: the shapes of ``remove_part``; for ``smooth`` on 3-D INRs the 9^3
    quadrature on [-3, 3] sigma (error ~1e-3, see the edit) when ``exact``, which costs 729 evaluations a point."""
    if edit.name == "remove_part":
        return {"shapes": shapes}
    if edit.name == "smooth" and domain != "image" and exact:
        return {"points": 9, "extent": 3.0}
    return {}


def edit_targets(
    edit, ws: WeightSpace, coords: Tensor, params: dict, domain: str, chunk: int = 256, **options
) -> Tensor:
    """The edit's target of every INR of ``ws`` at ``coords`` ([M, d0] shared or [B, M, d0]): [B, M, dL], in
    chunks, no grad.

    ``params``: numbers shared by all INRs, or tensors with a leading [B]. ``options`` go to the edit's target;
    list-valued ones (``shapes``) hold one entry per INR and are chunked with it."""
    params = {k: v.expand(ws.batch_size, *v.shape[1:]) for k, v in edit.validate(params, domain).items()}
    outs = []
    with torch.no_grad(), torch.autocast("cpu", enabled=False):
        for lo in range(0, ws.batch_size, chunk):
            part = ws[lo : lo + chunk]
            p = {k: v[lo : lo + chunk] for k, v in params.items()}
            c = coords if coords.dim() == 2 else coords[lo : lo + chunk]
            o = {k: v[lo : lo + chunk] if isinstance(v, list) else v for k, v in options.items()}
            outs.append(edit.target(lambda x, part=part: evaluate(part, x), c, p, domain, **o))
    return torch.cat(outs)


GRADIENT_REFUSAL = (
    "a gradient edit model needs the edit's target computed from the INR; remove_part's target is the generator's "
    "shape; accepted edits: smooth, symmetrize, remove, remove_sphere, dilate"
)


def run_edit_model(
    model: EditNet,
    ws: WeightSpace,
    cond: Tensor | None,
    edit=None,
    params: dict | None = None,
    coords: Tensor | None = None,
    target: Tensor | None = None,
    points: int = 4096,
    seed: int = 0,
) -> WeightSpace:
    """The edit model's output for the INRs ``ws``: ``model(ws, cond)``, and for a model that takes the loss
    gradient (``model.gradient``) also the gradient of each INR's functional MSE at ``coords`` against the edit's
    ``target`` there ([B, M, dL]). Not given, they are computed here from ``edit`` (an EditDef) and ``params``: the
    28x28 grid for images, ``points`` points half near each INR's surface for 3-D (drawn with ``seed``), and the
    exact target (``edit_targets``). The gradient is the one fine-tuning's first step follows
    (``dws_edit.inr.fitting.mse_and_grads``); a model with refinement passes (``passes``) takes it again at each
    pass's output. Raises ValueError for a gradient model and ``remove_part``."""
    if not getattr(model, "gradient", False):
        return model(ws, cond)
    from dws_edit.inr.fitting import mse_and_grads

    if coords is None or target is None:
        if edit is None or edit.name == "remove_part":
            raise ValueError(GRADIENT_REFUSAL)
        domain = domain_of(ws.spec)
        if domain == "image":
            coords = sample_coords(domain, ws.spec)
        else:
            coords = sample_points(ws, domain, points, torch.Generator().manual_seed(seed))
        target = edit_targets(edit, ws, coords, params or {}, domain, **target_options(edit, domain))

    def gradient_of(inrs: WeightSpace) -> WeightSpace:
        with torch.autocast("cpu", enabled=False):
            _, grads = mse_and_grads(inrs.spec, [t.detach().float() for t in inrs.tensors()], coords, target)
        return WeightSpace(inrs.spec, tuple(grads[0::2]), tuple(grads[1::2]))

    return model(ws, cond, gradient_of)


def edited_values(
    model: EditNet, ws: WeightSpace, cond: Tensor | None, coords: Tensor, target: Tensor | None = None
) -> Tensor:
    """Values of the model's edited INRs at ``coords``; the INR itself is evaluated in float32. ``target``: the
    edit's target at ``coords``, where a gradient model takes its gradient."""
    edited = run_edit_model(model, ws, cond, coords=coords, target=target)
    with torch.autocast("cpu", enabled=False):
        return evaluate(edited.to(torch.float32), coords)
