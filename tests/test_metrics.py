"""3-D metrics against closed forms: IoU of concentric balls, Chamfer of concentric spheres, PSNR."""

import math

import pytest
import torch
import trimesh

from dws_edit.metrics import chamfer_distance, field_view_psnr, occupancy_iou, psnr


def ball(radius, field=False):
    def fn(p):
        d = p.norm(dim=-1, keepdim=True) - radius
        if not field:
            return d[None]
        return torch.cat([torch.sigmoid(-50 * d), torch.ones_like(d), torch.zeros_like(d), torch.zeros_like(d)], -1)[
            None
        ]

    return fn


def test_iou_of_concentric_balls_is_their_volume_ratio():
    for domain in ("sdf", "field"):
        iou = occupancy_iou(ball(0.4, domain == "field"), ball(0.5, domain == "field"), domain, resolution=96)
        assert iou.shape == (1,) and iou.item() == pytest.approx(0.8**3, abs=0.01)
        assert occupancy_iou(ball(0.4), ball(0.4), "sdf", resolution=32).item() == 1.0
    nothing = lambda p: torch.ones(1, len(p), 1)  # noqa: E731
    assert occupancy_iou(nothing, nothing, "sdf", resolution=8).item() == 1.0  # both empty
    with pytest.raises(ValueError, match="sdf and field"):
        occupancy_iou(nothing, nothing, "image", resolution=8)


def test_chamfer_of_concentric_spheres_is_the_gap():
    a, b = trimesh.creation.icosphere(4, radius=0.5), trimesh.creation.icosphere(4, radius=0.4)
    assert chamfer_distance(a, b, samples=5000) == pytest.approx(0.1, abs=0.003)
    floor = chamfer_distance(a, a, samples=5000)  # sampling alone: half the spacing of 5000 points, ~0.012
    assert floor < 0.02 and chamfer_distance(a, a, samples=20000) < floor / 1.5


def test_psnr_and_field_view_psnr():
    x = torch.zeros(2, 10)
    assert psnr(x, x + 0.1).tolist() == pytest.approx([20.0, 20.0])
    same = field_view_psnr(ball(0.5, True), ball(0.5, True), views=1, size=8)
    other = field_view_psnr(ball(0.3, True), ball(0.5, True), views=1, size=8)
    assert same.item() > 100 and 0 < other.item() < 20 and not math.isnan(other.item())


def test_a_jittered_grid_samples_other_points_and_estimates_the_same_volume():
    from dws_edit.metrics import occupancy

    volume = 4 / 3 * math.pi * 0.5**3 / 8  # of the ball in the cube [-1, 1]^3
    regular, one, again, two = (occupancy(ball(0.5), "sdf", 48, jitter=j) for j in (None, 1, 1, 2))
    assert torch.equal(one, again) and not torch.equal(one, two) and not torch.equal(one, regular)
    for occ in (one, two):
        assert occ.shape == (1, 48**3) and occ.float().mean().item() == pytest.approx(volume, rel=0.03)
