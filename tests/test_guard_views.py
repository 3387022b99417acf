"""The guard sees colored fields as a viewer does: the MSE of rendered views against the exact edit's views
(dws_edit.guard.guard_loss), where a faint fog that point samples barely register shows."""

import torch
from helpers.fields import field_with_density

from dws_edit.edits import get_edit
from dws_edit.edits.exact import symmetrize_exact
from dws_edit.guard import VIEW_CHECK, guard_loss
from dws_edit.inr.evaluate import evaluate
from dws_edit.render import render_field_views
from dws_edit.weights import WeightSpace


def _fogged(ws: WeightSpace, density: float) -> WeightSpace:
    b = list(ws.biases)
    b[-1] = b[-1] + torch.tensor([density, 0.0, 0.0, 0.0])
    return WeightSpace(ws.spec, ws.weights, tuple(b))


def test_a_fields_guard_loss_is_the_mse_of_its_views_against_the_targets_views():
    edit, ws = get_edit("symmetrize"), field_with_density()
    loss = guard_loss(edit, ws, {"axis": "x"})
    exact = symmetrize_exact(ws, axis="x")
    assert float(loss(exact)[0]) < 1e-8  # the closed form renders as the target does
    views = render_field_views(lambda p: evaluate(ws, p), **VIEW_CHECK)
    target = render_field_views(lambda p: evaluate(exact, p), **VIEW_CHECK)
    expected = (views - target).square().mean()
    torch.testing.assert_close(loss(ws)[0], expected, rtol=1e-4, atol=1e-7)
    assert float(expected) > 1e-4  # the unedited field is not its own symmetrize


def test_a_faint_fog_counts_in_views_far_more_than_at_points():
    edit, ws = get_edit("symmetrize"), field_with_density(1, density=-0.1)  # mostly empty space
    exact = symmetrize_exact(ws, axis="x")
    fog = _fogged(exact, 0.02)
    in_views = float(guard_loss(edit, ws, {"axis": "x"})(fog)[0])
    points = torch.rand(4096, 3) * 2 - 1
    at_points = float((evaluate(fog, points) - evaluate(exact, points)).square().mean())
    assert at_points < 5e-4 < 10 * at_points < in_views
