"""Losses a fit or a refine can follow instead of the MSE (dws_edit.inr.losses), and the field domain's refine loss:
the distance of two colored fields as a volume renderer sees them."""

import pytest
import torch
from helpers.fields import field_with_density

from dws_edit.edits import get_edit
from dws_edit.inr.domains import get_domain
from dws_edit.inr.evaluate import evaluate
from dws_edit.inr.fitting import mse_and_grads
from dws_edit.inr.losses import DENSITY_WEIGHT, OPACITY_EXPONENT, clamped_l1, rendered_field_grad, rendered_field_loss
from dws_edit.inr.siren import field_spec, init_siren
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


@pytest.mark.parametrize("activation", ["sine", "relu"])
def test_a_fit_follows_the_gradient_of_the_loss_it_is_given(activation):
    """mse_and_grads with ``loss``: the written-out backward pass of sine networks (autograd for others) against
    autograd through the network."""
    spec = field_spec((8, 8)) if activation == "sine" else NetworkSpec((3, 8, 8, 4), activation="relu")
    ws = init_siren(field_spec((8, 8)), 2, torch.Generator().manual_seed(0))
    ws = WeightSpace(spec, ws.weights, ws.biases)
    coords = torch.rand(2, 64, 3, generator=torch.Generator().manual_seed(1)) * 2 - 1
    targets = torch.rand(2, 64, 4, generator=torch.Generator().manual_seed(2)) * 1.4 - 0.2
    params = [t.detach().clone() for t in ws.tensors()]
    mse, grads = mse_and_grads(spec, params, coords, targets, loss=rendered_field_grad)
    leaves = [p.clone().requires_grad_(True) for p in params]
    out = evaluate(WeightSpace(spec, tuple(leaves[0::2]), tuple(leaves[1::2])), coords)
    expected = torch.autograd.grad(rendered_field_loss(out, targets).sum(), leaves)
    for g, e in zip(grads, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(mse, (out - targets).square().mean((1, 2)).detach())  # the error reported: the MSE
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

    assert get_domain("field").refine_loss is rendered_field_grad and get_domain("sdf").refine_loss is None
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
