import pytest
import torch

from dws_edit.data.fields import FIELD_CHANNELS, density_from_sdf, field_targets, sample_field_points
from dws_edit.data.shapes import Part, Shape, sample_sdf_points, sample_shape


def ball(radius=0.5, color=(0.1, 0.8, 0.3)):
    return Shape("custom", {}, (Part("ball", "sphere", {"center": (0.0, 0.0, 0.0), "radius": radius}, color),))


def test_density_inside_outside_and_on_the_surface():
    shape = ball()
    p = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.5, 0.0, 0.0], [0.0, 0.54, 0.0], [0.0, 0.0, -0.46]])
    t = field_targets(shape, p)
    assert t.shape == (5, 4) and t.dtype == torch.float32 and FIELD_CHANNELS == ("density", "r", "g", "b")
    assert t[0, 0] > 0.999 and t[1, 0] < 1e-6
    torch.testing.assert_close(t[2, 0], torch.tensor(0.5))
    torch.testing.assert_close(t[3, 0], torch.sigmoid(torch.tensor(-2.0)), atol=1e-5, rtol=0)  # sdf 0.04 * 50
    torch.testing.assert_close(t[4, 0], torch.sigmoid(torch.tensor(2.0)), atol=1e-5, rtol=0)
    torch.testing.assert_close(t[:, 1:], torch.tensor([[0.1, 0.8, 0.3]] * 5))
    sharp = field_targets(shape, p, sharpness=500.0)
    assert sharp[3, 0] < t[3, 0] and sharp[4, 0] > t[4, 0]  # sharper: closer to an occupancy step
    with pytest.raises(ValueError, match="sharpness"):
        density_from_sdf(torch.zeros(3), sharpness=0.0)


@pytest.mark.parametrize("family", ["mug", "car", "chair"])
def test_field_targets_match_the_shape(family):
    shape = sample_shape(family, torch.Generator().manual_seed(0))
    p = torch.rand(2000, 3, generator=torch.Generator().manual_seed(1)) * 2 - 1
    t = field_targets(shape, p)
    assert t.shape == (2000, 4) and t.min() >= 0 and t.max() <= 1
    torch.testing.assert_close(t[:, 0], torch.sigmoid(-50.0 * shape.sdf(p)))
    assert torch.equal(t[:, 1:], shape.colors(p))
    d = shape.sdf(p)
    order = torch.argsort(d)
    assert (t[order, 0].diff() <= 0).all()  # density falls as the SDF grows
    assert field_targets(shape, p.double()).dtype == torch.float64


def test_density_is_near_one_deep_inside_a_part():
    car = sample_shape("car", torch.Generator().manual_seed(3))
    body = car.parts[0].params
    center = torch.tensor([body["center"]])
    depth = -car.sdf(center).item()
    assert depth >= 0.08
    assert field_targets(car, center)[0, 0] > torch.sigmoid(torch.tensor(50 * 0.08)) - 1e-6


def test_sample_field_points():
    shape = sample_shape("table", torch.Generator().manual_seed(4))
    p, t = sample_field_points(shape, 800, torch.Generator().manual_seed(9))
    p2, t2 = sample_field_points(shape, 800, torch.Generator().manual_seed(9))
    assert p.shape == (800, 3) and t.shape == (800, 4)
    assert torch.equal(p, p2) and torch.equal(t, t2)
    torch.testing.assert_close(t, field_targets(shape, p))
    same, _ = sample_sdf_points(shape, 800, torch.Generator().manual_seed(9))
    assert torch.equal(p, same)  # the same point mix as for SDFs
    density = t[:, 0]
    assert ((density > 0.05) & (density < 0.95)).float().mean() > 0.2  # many points in the surface band
