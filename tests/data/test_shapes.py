import json
import math

import pytest
import torch

from dws_edit.data.shapes import (
    FAMILIES,
    PRIMITIVES,
    Part,
    Shape,
    build_shape,
    sample_sdf_points,
    sample_shape,
    sample_shapes,
    sdf_box,
    sdf_capsule,
    sdf_cup,
    sdf_cylinder,
    sdf_sphere,
    sdf_torus,
)


def pts(*rows):
    return torch.tensor(rows, dtype=torch.float64)


def grid(n=41, lo=-1.0, hi=1.0):
    g = torch.linspace(lo, hi, n, dtype=torch.float64)
    return torch.stack(torch.meshgrid(g, g, g, indexing="ij"), dim=-1).reshape(-1, 3)


def close(actual, expected, atol=1e-9):
    torch.testing.assert_close(actual, torch.as_tensor(expected, dtype=actual.dtype), atol=atol, rtol=0)


# --- primitives: analytic values ----------------------------------------------------------------------------------


def test_sphere_values():
    c = (0.1, 0.2, 0.3)
    p = pts(c, (0.6, 0.2, 0.3), (0.1, -0.8, 0.3), (0.1, 0.2, -0.2))
    close(sdf_sphere(p, c, 0.5), [-0.5, 0.0, 0.5, 0.0])


def test_box_values():
    c, b = (0.1, 0.0, -0.1), (0.3, 0.2, 0.1)
    p = pts(c, (0.4, 0.0, -0.1), (0.6, 0.0, -0.1), (0.7, 0.6, -0.1), (0.1, 0.1, -0.1), (0.1, 0.0, 0.0))
    # center: -(smallest half extent); face: 0; 0.2 off a face; 0.3/0.4 off an edge: 0.5; 0.1 inside; on top face
    close(sdf_box(p, c, b), [-0.1, 0.0, 0.2, 0.5, -0.1, 0.0])


def test_rounded_box_keeps_its_faces_and_rounds_its_corners():
    b, r = (0.3, 0.2, 0.1), 0.05
    p = pts((0.3, 0.0, 0.0), (0.3, 0.2, 0.1), (0.5, 0.0, 0.0), (0.0, 0.0, 0.0))
    corner = math.sqrt(3) * r - r  # the sharp corner lies outside the rounded one
    close(sdf_box(p, (0, 0, 0), b, rounding=r), [0.0, corner, 0.2, -0.1])
    with pytest.raises(ValueError, match="rounding"):
        sdf_box(p, (0, 0, 0), b, rounding=0.2)


def test_cylinder_values_along_each_axis():
    p = pts((0, 0, 0), (0.3, 0, 0), (0, 0.4, 0), (0.6, 0, 0), (0.6, 0.8, 0), (0, 0, 0.3), (0.2, 0.1, 0))
    close(sdf_cylinder(p, (0, 0, 0), 0.3, 0.4, axis=1), [-0.3, 0.0, 0.0, 0.3, 0.5, 0.0, -0.1])
    q = p[:, [1, 0, 2]]  # swap x and y: the same answers for a cylinder along x
    close(sdf_cylinder(q, (0, 0, 0), 0.3, 0.4, axis=0), [-0.3, 0.0, 0.0, 0.3, 0.5, 0.0, -0.1])
    with pytest.raises(ValueError, match="axis"):
        sdf_cylinder(p, (0, 0, 0), 0.3, 0.4, axis=3)


def test_capsule_values():
    a, b = (-0.2, 0.0, 0.0), (0.2, 0.0, 0.0)
    p = pts((0, 0, 0), (0, 0.1, 0), (0.5, 0, 0), (0.2, 0.3, 0), (-0.5, 0.4, 0))
    close(sdf_capsule(p, a, b, 0.1), [-0.1, 0.0, 0.2, 0.2, 0.4])
    close(sdf_capsule(p, a, a, 0.1), (p - torch.tensor(a, dtype=p.dtype)).norm(dim=-1) - 0.1)  # degenerate


def test_torus_values():
    p = pts((0.4, 0, 0), (0, 0, 0), (0.5, 0, 0), (0, 0, 0.5), (0.4, 0.3, 0), (0, 0.1, -0.4))
    close(sdf_torus(p, (0, 0, 0), 0.4, 0.1, axis=1), [-0.1, 0.3, 0.0, 0.0, 0.2, 0.0])


def test_half_torus_is_an_arc_with_round_caps():
    # ring in the xy plane (axis z), the half toward +x, end points at (0, +-0.4, 0)
    kw = dict(center=(0, 0, 0), major_radius=0.4, minor_radius=0.1, axis=2, direction=(1, 0, 0), half_angle=math.pi / 2)
    p = pts((0.4, 0, 0), (-0.4, 0, 0), (0, 0.4, 0), (0, 0.4, 0.1), (-0.1, 0.4, 0), (0, -0.6, 0), (0.5, 0, 0))
    close(sdf_torus(p, **kw), [-0.1, math.sqrt(0.32) - 0.1, -0.1, 0.0, 0.0, 0.1, 0.0])
    # within its arc it agrees with the full torus
    q = torch.rand(500, 3, dtype=torch.float64) * 2 - 1
    q = q[q[:, 0] > 0.05]
    full = sdf_torus(q, (0, 0, 0), 0.4, 0.1, axis=2)
    close(sdf_torus(q, **kw), full)


def test_cup_values():
    kw = dict(center=(0, 0, 0), radius=0.4, half_height=0.3, wall=0.05, bottom=0.1)
    p = pts((0, 0, 0), (0.375, 0, 0), (0, -0.25, 0), (0, 0.5, 0), (0, -0.5, 0), (0, 0, 0.6), (0.2, 0.2, 0))
    rim = math.hypot(0.35, 0.2)  # above the opening, the nearest point is the inner rim
    close(sdf_cup(p, **kw), [0.2, -0.025, -0.05, rim, 0.2, 0.2, 0.15])


def test_primitives_keep_dtype():
    p32 = torch.rand(20, 3) * 2 - 1
    for fn, kw in primitive_cases():
        d32, d64 = fn(p32, **kw), fn(p32.double(), **kw)
        assert d32.dtype == torch.float32 and d64.dtype == torch.float64 and d32.shape == (20,)
        torch.testing.assert_close(d32.double(), d64, atol=1e-5, rtol=0)


def primitive_cases():
    return [
        (sdf_sphere, dict(center=(0.1, -0.2, 0.05), radius=0.45)),
        (sdf_box, dict(center=(0.1, 0.0, -0.1), half_size=(0.4, 0.25, 0.3))),
        (sdf_box, dict(center=(0.0, 0.1, 0.0), half_size=(0.4, 0.25, 0.3), rounding=0.1)),
        (sdf_cylinder, dict(center=(0.0, 0.1, 0.0), radius=0.35, half_height=0.3, axis=2)),
        (sdf_capsule, dict(a=(-0.3, -0.1, 0.2), b=(0.3, 0.2, -0.1), radius=0.2)),
        (sdf_torus, dict(center=(0.0, 0.0, 0.1), major_radius=0.45, minor_radius=0.12, axis=0)),
        (
            sdf_torus,
            dict(
                center=(0.1, 0.0, 0.0),
                major_radius=0.3,
                minor_radius=0.06,
                axis=2,
                direction=(1, 0, 0),
                half_angle=math.pi / 2,
            ),
        ),
        (sdf_cup, dict(center=(0.0, -0.1, 0.0), radius=0.4, half_height=0.45, wall=0.08, bottom=0.1)),
    ]


@pytest.mark.parametrize("case", range(len(primitive_cases())))
def test_primitives_are_exact_distances(case):
    """|grad sdf| = 1 almost everywhere (Eikonal), and one step p - sdf * grad lands on the surface: true for an
    exact SDF inside and outside, false for a mere bound."""
    fn, kw = primitive_cases()[case]
    generator = torch.Generator().manual_seed(case)
    p = (torch.rand(2000, 3, generator=generator, dtype=torch.float64) * 2 - 1).requires_grad_()
    d = fn(p, **kw)
    (grad,) = torch.autograd.grad(d.sum(), p)
    norm = grad.norm(dim=-1)
    close(norm, torch.ones_like(norm), atol=1e-6)
    with torch.no_grad():
        on_surface = fn(p - d[:, None] * grad, **kw)
    close(on_surface, torch.zeros_like(on_surface), atol=1e-9)
    assert (d < 0).any() and (d > 0).any()


def test_part_subtraction_is_max_of_a_and_minus_b():
    outer = dict(center=(0, 0, 0), half_size=(0.5, 0.5, 0.5))
    hole = dict(center=(0, 0, 0), radius=0.2, half_height=0.6, axis=1)
    part = Part("tube", "box", outer, subtract=("cylinder", hole))
    p = grid(11)
    close(part.sdf(p), torch.maximum(sdf_box(p, **outer), -sdf_cylinder(p, **hole)))
    assert part.sdf(pts((0, 0, 0))).item() > 0  # the axis is in the hole
    with pytest.raises(ValueError, match="unknown primitive 'cone'"):
        Part("x", "cone", {})
    assert set(PRIMITIVES) >= {"sphere", "box", "cylinder", "capsule", "torus", "cup"}


# --- families ---------------------------------------------------------------------------------------------------

EXPECTED_PARTS = {
    "mug": ("body", "handle"),
    "table": ("top", "leg_front_left", "leg_front_right", "leg_back_left", "leg_back_right"),
    "chair": ("seat", "back", "leg_front_left", "leg_front_right", "leg_back_left", "leg_back_right"),
    "car": ("body", "cabin", "wheel_front_left", "wheel_front_right", "wheel_rear_left", "wheel_rear_right"),
}


def inside_point(part: Part) -> tuple[float, float, float]:
    """A point inside a part, from its parameters."""
    p = part.params
    if part.primitive == "capsule":
        return tuple(p["a"])
    c = torch.tensor(p["center"], dtype=torch.float64)
    if part.primitive == "torus":
        d = torch.tensor(p.get("direction") or [1.0 if i == (p["axis"] + 1) % 3 else 0.0 for i in range(3)])
        c = c + p["major_radius"] * d.double()
    elif part.primitive == "cup":
        side = torch.tensor([1.0 if i == (p.get("axis", 1) + 1) % 3 else 0.0 for i in range(3)], dtype=torch.float64)
        c = c + (p["radius"] - p["wall"] / 2) * side
    return tuple(c.tolist())


@pytest.mark.parametrize("family", FAMILIES)
def test_families_sample_deterministically(family):
    a = sample_shape(family, torch.Generator().manual_seed(7))
    b = sample_shape(family, torch.Generator().manual_seed(7))
    c = sample_shape(family, torch.Generator().manual_seed(8))
    assert a.family == family and a.params == b.params and a.params != c.params
    assert a == b
    p = grid(9)
    assert torch.equal(a.sdf(p), b.sdf(p))
    assert [s.params for s in sample_shapes(family, 3, seed=5)] == [s.params for s in sample_shapes(family, 3, seed=5)]
    assert len({json.dumps(s.params) for s in sample_shapes(family, 3, seed=5)}) == 3


@pytest.mark.parametrize("family", FAMILIES)
def test_families_have_their_parts_inside_and_fit_the_cube(family):
    p = grid(37)  # spacing 1/18
    outer = p.abs().amax(dim=-1) > 0.9
    for shape in sample_shapes(family, 5, seed=1):
        if family in EXPECTED_PARTS:
            assert shape.part_names == EXPECTED_PARTS[family]
        elif family == "compose":
            assert 2 <= len(shape.parts) <= 4 and shape.part_names == tuple(f"part{k}" for k in range(len(shape.parts)))
        else:
            assert len(shape.parts) == 1 and shape.part_names[0] in ("sphere", "box", "cylinder", "torus", "capsule")
        d = shape.sdf(p)
        assert d.shape == (len(p),) and d.dtype == torch.float64
        assert (d[outer] > 0).all(), f"{family} {shape.params} leaves [-0.9, 0.9]^3"
        assert (d < 0).any()
        assert shape.sdf(pts((1, 1, 1), (-1, -1, -1))).min() > 0
        inside = pts(*[inside_point(part) for part in shape.parts])
        assert (shape.sdf(inside) < 0).all()
        labels = shape.part_labels(inside)
        assert labels.dtype == torch.long
        own = shape.part_sdfs(inside)  # [P, P]: part j at the inside point of part i
        for i in range(len(shape.parts)):
            if (own[i] < 0).sum() == 1:  # inside this part only: labelled with it
                assert labels[i] == i


def test_primitive_family_covers_every_kind():
    kinds = {sample.part_names[0] for sample in sample_shapes("primitive", 40, seed=0)}
    assert kinds == {"sphere", "box", "cylinder", "torus", "capsule"}


def test_colors_come_from_the_nearest_part():
    shape = sample_shape("car", torch.Generator().manual_seed(0))
    p = torch.rand(300, 3) * 2 - 1
    rgb = shape.colors(p)
    assert rgb.shape == (300, 3) and rgb.dtype == torch.float32 and rgb.min() >= 0 and rgb.max() <= 1
    palette = torch.tensor([part.color for part in shape.parts])
    assert torch.equal(rgb, palette[shape.part_labels(p)])
    wheel = pts(inside_point(shape.parts[2])).float()
    assert torch.equal(shape.colors(wheel)[0], torch.tensor(shape.parts[2].color))


def test_without_handle_changes_only_the_handle_region():
    mug = sample_shape("mug", torch.Generator().manual_seed(3))
    plain = mug.without("handle")
    assert plain.part_names == ("body",) and plain.removed == ("handle",)
    p = grid(33)
    body, handle = mug.parts
    torch.testing.assert_close(plain.sdf(p), body.sdf(p), atol=0, rtol=0)  # the union of the remaining parts
    changed = mug.sdf(p) != plain.sdf(p)
    assert changed.any()
    assert (handle.sdf(p[changed]) < body.sdf(p[changed])).all()  # only where the handle was nearest
    inner_wall_x = body.params["center"][0] + mug.params["radius"] - mug.params["wall"]
    assert (p[changed][:, 0] > inner_wall_x).all()  # all on the handle's (+x) side
    tip = pts(inside_point(handle))
    assert mug.sdf(tip) < 0 < plain.sdf(tip)


def test_unknown_part_and_family_errors():
    mug = sample_shape("mug", torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="spout") as err:
        mug.without("spout")
    assert "handle" in str(err.value) and "body" in str(err.value)
    with pytest.raises(ValueError, match="handle"):
        mug.without("handle").without("handle")
    with pytest.raises(ValueError, match="only part"):
        mug.without("handle").without("body")
    with pytest.raises(ValueError, match="teapot") as err:
        sample_shape("teapot", torch.Generator())
    assert all(f in str(err.value) for f in FAMILIES)
    with pytest.raises(ValueError, match="teapot"):
        Shape.from_dict({"family": "teapot", "params": {}})
    with pytest.raises(ValueError, match="radius"):
        build_shape("mug", {"half_height": 0.3})
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        mug.sdf(torch.zeros(4, 2))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_mirror_is_exact(axis):
    shape = sample_shape("car", torch.Generator().manual_seed(4))
    p = torch.rand(2000, 3) * 2 - 1
    flip = torch.ones(3)
    flip[axis] = -1
    m = shape.mirrored(axis)
    assert torch.equal(m.sdf(p), shape.sdf(p * flip))
    assert torch.equal(m.part_labels(p), shape.part_labels(p * flip))
    assert torch.equal(m.colors(p), shape.colors(p * flip))
    assert torch.equal(m.mirrored(axis).sdf(p), shape.sdf(p))  # twice: the identity
    assert m.mirrored(axis).mirror_axes == ()


def test_mirrored_mug_has_its_handle_on_the_other_side():
    mug = sample_shape("mug", torch.Generator().manual_seed(1))
    m = mug.mirrored()
    p = grid(41)
    assert not torch.equal(m.sdf(p), mug.sdf(p))
    for shape, sign in ((mug, 1), (m, -1)):
        in_handle = (shape.sdf(p) < 0) & (shape.part_labels(p) == shape.part_names.index("handle"))
        assert in_handle.sum() > 10 and (p[in_handle][:, 0] * sign > 0).all()
    with pytest.raises(ValueError, match="axis"):
        mug.mirrored(5)


@pytest.mark.parametrize("family", FAMILIES)
def test_dict_round_trip_gives_identical_sdf(family):
    shape = sample_shape(family, torch.Generator().manual_seed(11))
    variants = [shape, shape.mirrored(0), shape.mirrored(2).mirrored(0)]
    if len(shape.parts) > 1:
        variants.append(shape.without(shape.part_names[-1]).mirrored(0))
    p = torch.rand(1000, 3) * 2 - 1
    for s in variants:
        d = json.loads(json.dumps(s.to_dict()))
        back = Shape.from_dict(d)
        assert back == s
        assert torch.equal(back.sdf(p), s.sdf(p))
    assert set(shape.to_dict()) == {"family", "params", "removed", "mirror_axes"}


# --- training points --------------------------------------------------------------------------------------------


def test_sample_sdf_points_is_deterministic_and_consistent():
    shape = sample_shape("chair", torch.Generator().manual_seed(2))
    p1, d1 = sample_sdf_points(shape, 1000, torch.Generator().manual_seed(5))
    p2, d2 = sample_sdf_points(shape, 1000, torch.Generator().manual_seed(5))
    p3, _ = sample_sdf_points(shape, 1000, torch.Generator().manual_seed(6))
    assert p1.shape == (1000, 3) and d1.shape == (1000,) and p1.dtype == d1.dtype == torch.float32
    assert torch.equal(p1, p2) and torch.equal(d1, d2) and not torch.equal(p1, p3)
    assert p1.abs().max() <= 1
    torch.testing.assert_close(d1, shape.sdf(p1))
    p64, d64 = sample_sdf_points(shape, 10, torch.Generator(), dtype=torch.float64)
    assert p64.dtype == d64.dtype == torch.float64


def test_sample_sdf_points_mix():
    shape = sample_shape("mug", torch.Generator().manual_seed(0))
    _, on = sample_sdf_points(shape, 2000, torch.Generator().manual_seed(0), near_surface=1.0, sigma=0.0)
    assert (on.abs() < 1e-4).float().mean() > 0.95  # projected onto the surface
    _, near = sample_sdf_points(shape, 2000, torch.Generator().manual_seed(0), near_surface=1.0, sigma=0.02)
    assert (near.abs() < 0.06).float().mean() > 0.95
    assert (near < 0).any() and (near > 0).any()
    _, uniform = sample_sdf_points(shape, 2000, torch.Generator().manual_seed(0), near_surface=0.0)
    assert (uniform.abs() < 0.02).float().mean() < 0.2
    _, half = sample_sdf_points(shape, 2000, torch.Generator().manual_seed(0))
    assert 0.4 < (half.abs() < 0.06).float().mean() < 0.7
    with pytest.raises(ValueError, match="near_surface"):
        sample_sdf_points(shape, 10, torch.Generator(), near_surface=1.5)
