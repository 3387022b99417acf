"""Losses a fit or a refine can follow instead of the MSE (dws_edit.inr.losses), and the domains' refine losses: the
distance of two colored fields as a volume renderer sees them, of two SDFs as their surfaces show them."""

import pytest
import torch
from helpers.fields import field_with_density

from dws_edit.edits import get_edit
from dws_edit.inr.domains import get_domain
from dws_edit.inr.evaluate import evaluate
from dws_edit.inr.fitting import mse_and_grads
from dws_edit.inr.losses import (
    DENSITY_WEIGHT,
    OPACITY_EXPONENT,
    SDF_SURFACE,
    SURFACE_SCALE,
    clamped_l1,
    rendered_field_grad,
    rendered_field_loss,
    sdf_surface_grad,
    sdf_surface_loss,
)
from dws_edit.inr.siren import field_spec, init_siren, sdf_spec
from dws_edit.metrics import occupancy_iou
from dws_edit.render import DENSITY_SCALE
from dws_edit.runner import refine
from dws_edit.weights import NetworkSpec, WeightSpace


def _values(*rows) -> torch.Tensor:
    return torch.tensor([list(rows)], dtype=torch.float32)  # [1, M, 4]


def test_the_opacity_exponent_is_the_renderers_density_over_a_saturating_step():
    assert OPACITY_EXPONENT == pytest.approx(DENSITY_SCALE * 0.05)


def test_what_renders_alike_costs_nothing():
    target = _values([-0.3, 0.2, 0.9, 0.1], [1.4, 0.5, 0.5, 0.5], [0.4, 1.2, 0.3, -0.2])
    # any density <= 0 where the target is empty, with any color there; any density >= 1 where it is saturated;
    # colors past [0, 1] on the side where the target's are clamped
    same = _values([-2.0, 0.9, 0.0, 0.7], [3.0, 0.5, 0.5, 0.5], [0.4, 1.5, 0.3, -0.5])
    assert float(rendered_field_loss(same, target)[0]) == 0.0
    assert float(rendered_field_grad(same, target).abs().max()) == 0.0
    assert float((same - target).square().mean()) > 0.5  # the MSE sees a large error


def test_an_output_pushed_past_empty_where_the_target_has_density_is_pulled_back():
    """The MSE of clamped values has no gradient there (a refine that overshoots to a negative density stays
    stuck): the loss clamps only on the side where the target saturates."""
    target, out = _values([0.3, 0.5, 0.5, 0.5]), _values([-0.2, 0.5, 0.5, 0.5])
    assert float(rendered_field_grad(out, target)[0, 0, 0]) < 0  # a descent step raises the density
    assert float(rendered_field_loss(out, target)[0]) > 0


def test_colors_count_where_the_target_has_density_and_density_counts_more():
    color_in_solid = float(rendered_field_loss(_values([1.0, 0.2, 0, 0]), _values([1.0, 0.5, 0, 0]))[0])
    color_in_empty = float(rendered_field_loss(_values([0.0, 0.2, 0, 0]), _values([0.0, 0.5, 0, 0]))[0])
    density = float(rendered_field_loss(_values([0.7, 0.5, 0, 0]), _values([1.0, 0.5, 0, 0]))[0])
    assert color_in_solid > 0.08 and color_in_empty == 0.0
    assert density == pytest.approx(DENSITY_WEIGHT * 0.09 / 1, rel=1e-5) and density > 5 * color_in_solid


def test_an_sdf_is_judged_by_its_sign_and_its_values_near_the_surface():
    target = torch.tensor([[[0.01], [-0.02], [0.6], [-0.5]]])
    far_off = torch.tensor([[[0.01], [-0.02], [0.3], [-0.9]]])  # far values wrong by 0.3 and 0.4, signs right
    near_off = torch.tensor([[[0.04], [-0.02], [0.6], [-0.5]]])  # one near value wrong by 0.03
    flipped = torch.tensor([[[0.01], [-0.02], [-0.6], [-0.5]]])  # one far value of the wrong sign
    far, near, sign = (float(sdf_surface_loss(o, target)[0]) for o in (far_off, near_off, flipped))
    assert far < 1e-3 < near < 0.1 < sign  # the MSE orders them the other way round for the first two
    assert float((far_off - target).square().mean()) > 100 * float((near_off - target).square().mean())
    assert float(sdf_surface_loss(target, target)[0]) == 0.0 and SURFACE_SCALE == 0.05


@pytest.mark.parametrize(
    ("activation", "dl", "loss", "grad"),
    [("sine", 4, rendered_field_loss, rendered_field_grad), ("relu", 4, rendered_field_loss, rendered_field_grad),
     ("sine", 1, sdf_surface_loss, sdf_surface_grad)],
)  # fmt: skip
def test_a_fit_follows_the_gradient_of_the_loss_it_is_given(activation, dl, loss, grad):
    """mse_and_grads with ``loss``: the written-out backward pass of sine networks (autograd for others) and the
    written-out output gradient against autograd through the network and the loss."""
    spec = field_spec((8, 8)) if dl == 4 else sdf_spec((8, 8))
    spec = spec if activation == "sine" else NetworkSpec((3, 8, 8, dl), activation="relu")
    ws = init_siren(spec if activation == "sine" else field_spec((8, 8)), 2, torch.Generator().manual_seed(0))
    ws = WeightSpace(spec, ws.weights, ws.biases)
    coords = torch.rand(2, 64, 3, generator=torch.Generator().manual_seed(1)) * 2 - 1
    targets = torch.rand(2, 64, dl, generator=torch.Generator().manual_seed(2)) * 1.4 - 0.2
    if dl == 1:  # an SDF's target: most points within a few SURFACE_SCALEs of the output, where the gradient lives
        with torch.no_grad():
            targets = evaluate(ws, coords) + 0.1 * torch.randn(2, 64, 1, generator=torch.Generator().manual_seed(3))
    params = [t.detach().clone() for t in ws.tensors()]
    mse, grads = mse_and_grads(spec, params, coords, targets, loss=grad)
    leaves = [p.clone().requires_grad_(True) for p in params]
    out = evaluate(WeightSpace(spec, tuple(leaves[0::2]), tuple(leaves[1::2])), coords)
    expected = torch.autograd.grad(loss(out, targets).sum(), leaves)
    for g, e in zip(grads, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(mse, (out - targets).square().mean((1, 2)).detach())  # the error reported: the MSE
    if dl == 1:
        return
    _, deepsdf = mse_and_grads(spec, params, coords, targets[..., :1].expand(-1, -1, 4), clamp=0.1)
    _, given = mse_and_grads(spec, params, coords, targets[..., :1].expand(-1, -1, 4), loss=clamped_l1(0.1))
    for a, b in zip(deepsdf, given, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("seed", [0, 1])
def test_refine_of_a_field_follows_the_rendered_loss(seed):
    """The field domain refines by the rendered loss, not the MSE: 40 steps toward a remove's target from a foggy
    field end with the lower rendered loss at fresh points, and the MSE fit with the lower MSE, each by its loss.
    (What it gives on NeRFs trained from images, where it matters: docs/nerf.md, "Refine loss".)"""
    from dws_edit.inr.fitting import fit
    from dws_edit.runner import DEFAULT_LR, source_targets

    assert get_domain("field").refine_loss.grad is rendered_field_grad and get_domain("sdf").refine_loss == SDF_SURFACE
    ws, edit, params = field_with_density(seed, 0.1), get_edit("remove"), {"box": (-0.6, -0.6, -0.6, 0.4, 0.6, 0.6)}
    ours = refine(ws, ws, "remove", params, 40)
    coords, target = source_targets(edit, ws, params)
    mse = fit(ws.spec, coords, target, 0.0, 40, DEFAULT_LR["field"], init=ws, chunk=1).ws
    fresh, fresh_target = source_targets(edit, ws, params, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        ours_out, mse_out, before = (evaluate(w, fresh) for w in (ours, mse, ws))
    rendered = [float(rendered_field_loss(o, fresh_target)[0]) for o in (ours_out, mse_out, before)]
    squared = [float((o - fresh_target).square().mean()) for o in (ours_out, mse_out)]
    assert rendered[0] < rendered[1] and rendered[0] < 0.5 * rendered[2]
    assert squared[1] < squared[0]


def test_refine_of_an_sdf_follows_its_surface():
    """The SDF domain refines by the surface loss, not the MSE: from a fitted sphere toward the target of removing
    its upper half, 60 refine steps end with the lower surface loss at fresh points and the higher occupancy IoU
    (32^3), and the MSE fit with the lower MSE. (On zoo SDFs from the DWS pass: docs/benchmarks.md, "SDF refine
    loss".)"""
    from dws_edit.inr.fitting import fit
    from dws_edit.runner import DEFAULT_LR, edit_targets, source_targets

    g = torch.Generator().manual_seed(0)
    coords = torch.rand(1, 2048, 3, generator=g) * 2 - 1
    sphere = fit(sdf_spec((16, 16)), coords, coords.norm(dim=-1, keepdim=True) - 0.6, 0.0, 300, 2e-3, chunk=1).ws
    edit, params = get_edit("remove"), {"box": (-1.0, -1.0, 0.0, 1.0, 1.0, 1.0)}
    ours = refine(sphere, sphere, "remove", params, 60)
    coords, target = source_targets(edit, sphere, params)
    mse = fit(sphere.spec, coords, target, 0.0, 60, DEFAULT_LR["sdf"], init=sphere, chunk=1).ws
    fresh, fresh_target = source_targets(edit, sphere, params, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        ours_out, mse_out = (evaluate(w, fresh) for w in (ours, mse))
    surface = [float(sdf_surface_loss(o, fresh_target)[0]) for o in (ours_out, mse_out)]
    squared = [float((o - fresh_target).square().mean()) for o in (ours_out, mse_out)]
    target_fn = lambda p: edit_targets(edit, sphere, p, params, "sdf")  # noqa: E731
    ious = [float(occupancy_iou(lambda p, w=w: evaluate(w, p), target_fn, "sdf", 32)[0]) for w in (ours, mse)]
    assert surface[0] < surface[1] and squared[1] < squared[0] and ious[0] > ious[1]
