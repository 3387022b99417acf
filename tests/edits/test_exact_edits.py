"""Exact weight-space edits against their functional definitions, on random SIRENs of every family (float64)."""

import math
import warnings

import pytest
import torch
from scipy.spatial.transform import Rotation

from dws_edit.edits import (
    EXACT_EDITS,
    affine,
    blend,
    cube_symmetries,
    get_exact_edit,
    mirror,
    rotate,
    scale,
    symmetrize_exact,
    translate,
)
from dws_edit.inr import evaluate, init_siren
from dws_edit.weights import NetworkSpec, WeightSpace

B, M = 3, 257
SPECS = {
    "image": NetworkSpec((2, 32, 32, 1), w0=30.0, output_offset=0.5),
    "image_rgb": NetworkSpec((2, 32, 32, 3), w0=30.0, output_offset=0.5),
    "sdf": NetworkSpec((3, 32, 32, 1), w0=15.0),
    "field": NetworkSpec((3, 32, 32, 4), w0=15.0),
    "deep_unequal": NetworkSpec((2, 20, 12, 28, 1), w0=30.0, output_offset=0.5),  # three hidden layers
    "uneven_3d": NetworkSpec((3, 8, 40, 4), w0=15.0),
}


def siren(spec: NetworkSpec, seed: int, batch: int = B) -> WeightSpace:
    """A SIREN initialisation (float64) with random biases, so every term of the first layer matters."""
    g = torch.Generator().manual_seed(seed)
    ws = init_siren(spec, batch, generator=g).to(torch.float64)
    biases = tuple(0.3 * torch.randn(b.shape, generator=g, dtype=torch.float64) / spec.w0 for b in ws.biases)
    return WeightSpace(spec, ws.weights, biases)


def points(d0: int, seed: int, batch: int | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (M, d0) if batch is None else (batch, M, d0)
    return torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1


def assert_same_function(got: torch.Tensor, want: torch.Tensor, rel: float = 1e-10) -> None:
    assert got.shape == want.shape
    err = (got - want).abs().max().item()
    assert err <= rel * max(want.abs().max().item(), 1.0), f"max error {err:.3g}"


@pytest.fixture(params=list(SPECS))
def family(request):
    spec = SPECS[request.param]
    return spec, siren(spec, seed=len(request.param))


def test_mirror_negates_one_input_coordinate(family):
    spec, ws = family
    d0 = spec.layer_sizes[0]
    x = points(d0, 1)
    for axis, name in enumerate("xyz"[:d0]):
        flipped = x.clone()
        flipped[:, axis] *= -1
        assert_same_function(evaluate(mirror(ws, name), x), evaluate(ws, flipped))
        assert_same_function(evaluate(mirror(ws, axis), x), evaluate(ws, flipped))


def test_translate_moves_the_content_by_the_offset(family):
    spec, ws = family
    d0 = spec.layer_sizes[0]
    offset = torch.rand(B, d0, dtype=torch.float64) - 0.5  # one offset per network
    x = points(d0, 2)
    assert_same_function(evaluate(translate(ws, offset), x), evaluate(ws, x[None] - offset[:, None]))
    shared = [0.25, -0.5, 0.1][:d0]
    assert_same_function(
        evaluate(translate(ws, shared), x), evaluate(ws, x - torch.tensor(shared, dtype=torch.float64))
    )


def test_scale_about_a_center(family):
    spec, ws = family
    d0 = spec.layer_sizes[0]
    factor = torch.tensor([0.5, 1.3, 2.0], dtype=torch.float64)
    center = torch.full((d0,), 0.2, dtype=torch.float64)
    x = points(d0, 3)
    want = evaluate(ws, (x[None] - center) / factor[:, None, None] + center)
    assert_same_function(evaluate(scale(ws, factor, center=center), x), want)
    assert_same_function(evaluate(scale(ws, 2.0), x), evaluate(ws, x / 2))


def test_affine_is_f_of_A_x_plus_t(family):
    spec, ws = family
    d0 = spec.layer_sizes[0]
    g = torch.Generator().manual_seed(4)
    A = torch.randn(B, d0, d0, generator=g, dtype=torch.float64)
    t = torch.randn(B, d0, generator=g, dtype=torch.float64)
    x = points(d0, 5, batch=B)
    want = evaluate(ws, torch.einsum("bij,bmj->bmi", A, x) + t[:, None])
    assert_same_function(evaluate(affine(ws, A, t), x), want)


def test_rotate_2d_matches_the_rotation_matrix_and_turns_x_toward_y():
    ws = siren(SPECS["image"], 6)
    angle = torch.tensor([0.3, -1.2, 2.5], dtype=torch.float64)
    x = points(2, 7)
    c, s = torch.cos(angle), torch.sin(angle)
    R = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # [B, 2, 2]
    want = evaluate(ws, torch.einsum("bji,mj->bmi", R, x))  # R^T x
    assert_same_function(evaluate(rotate(ws, angle), x), want)
    # a quarter turn moves what was at (+0.5, 0) to (0, +0.5)
    turned = rotate(ws, math.pi / 2)
    at = torch.tensor([[0.0, 0.5]], dtype=torch.float64)
    assert_same_function(evaluate(turned, at), evaluate(ws, torch.tensor([[0.5, 0.0]], dtype=torch.float64)), 1e-9)


@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_rotate_3d_about_each_axis_follows_the_right_hand_rule(axis):
    ws = siren(SPECS["sdf"], 8)
    angle, center = 0.7, torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
    R = torch.tensor(Rotation.from_euler(axis, angle).as_matrix(), dtype=torch.float64)  # independent reference
    x = points(3, 9)
    want = evaluate(ws, (x - center) @ R + center)  # rows: R^T (x - c) + c
    assert_same_function(evaluate(rotate(ws, angle, axis=axis, center=center), x), want)


def test_blend_of_networks_with_different_hidden_widths_is_the_weighted_sum():
    a = siren(SPECS["image"], 10)
    b = siren(NetworkSpec((2, 16, 8, 1), w0=30.0, output_offset=0.5), 11)
    t = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64)
    mixed = blend(a, b, t)
    assert mixed.spec.layer_sizes == (2, 48, 40, 1)
    assert (mixed.spec.activation, mixed.spec.w0, mixed.spec.output_offset) == ("sine", 30.0, 0.5)
    x = points(2, 12)
    want = (1 - t)[:, None, None] * evaluate(a, x) + t[:, None, None] * evaluate(b, x)
    assert_same_function(evaluate(mixed, x), want)


@pytest.mark.parametrize("name", ["deep_unequal", "field"])
def test_blend_works_for_any_depth(name):
    spec = SPECS[name]
    a, b = siren(spec, 13), siren(spec, 14)
    x = points(spec.layer_sizes[0], 15)
    want = 0.75 * evaluate(a, x) + 0.25 * evaluate(b, x)
    assert_same_function(evaluate(blend(a, b, 0.25), x), want)


def test_blend_of_linear_networks_keeps_the_spec():
    spec = NetworkSpec((3, 2), activation="identity", w0=1.0)
    a, b = siren(spec, 16), siren(spec, 17)
    x = points(3, 18)
    mixed = blend(a, b, 0.4)
    assert mixed.spec == spec
    assert_same_function(evaluate(mixed, x), 0.6 * evaluate(a, x) + 0.4 * evaluate(b, x))


def test_blend_rejects_incompatible_networks_in_one_line():
    a = siren(SPECS["image"], 19)
    for other in (
        siren(NetworkSpec((2, 32, 32, 1), w0=15.0, output_offset=0.5), 20),
        siren(SPECS["deep_unequal"], 21),
        siren(NetworkSpec((2, 32, 32, 1), w0=30.0, output_offset=0.0), 22),
        siren(SPECS["image"], 23, batch=2),
    ):
        with pytest.raises(ValueError) as err:
            blend(a, other, 0.5)
        assert "\n" not in str(err.value) and "hidden widths may differ" in str(err.value)


def test_symmetrize_exact_is_the_mirrored_average(family):
    spec, ws = family
    d0 = spec.layer_sizes[0]
    x = points(d0, 24)
    for axis in range(d0):
        flipped = x.clone()
        flipped[:, axis] *= -1
        sym = symmetrize_exact(ws, axis)
        assert sym.spec.hidden_sizes == tuple(2 * h for h in spec.hidden_sizes)
        assert_same_function(evaluate(sym, x), 0.5 * (evaluate(ws, x) + evaluate(ws, flipped)))
        assert_same_function(evaluate(sym, flipped), evaluate(sym, x))  # symmetric indeed


def test_bad_arguments_raise_one_line_errors_naming_what_is_accepted():
    ws2, ws3 = siren(SPECS["image"], 25), siren(SPECS["sdf"], 26)
    cases = [
        (lambda: mirror(ws2, "z"), "accepted: ('x', 'y')"),
        (lambda: rotate(ws3, 0.1), "accepted: 'x', 'y', 'z'"),
        (lambda: rotate(ws2, 0.1, axis="x"), "accepted: None"),
        (lambda: scale(ws2, 0.0), "accepted: a number > 0"),
        (lambda: affine(ws2, torch.eye(3)), "expected [2, 2] or [B, 2, 2]"),
        (lambda: translate(ws3, [0.1, 0.2]), "[3] or [B, 3]"),
        (lambda: translate(ws2, torch.zeros(5, 2)), "[2] or [B, 2]"),
        (lambda: get_exact_edit("warp"), "accepted: mirror, translate"),
        (lambda: rotate(ws2, 0.5, center=[0.1]), "center of shape (1, 1) is not accepted for INRs with 2 inputs"),
        (lambda: scale(ws2, 2.0, center=[0.1, 0.2, 0.3]), "center of shape (1, 3)"),
        (lambda: scale(ws2, float("nan")), "factor holds NaN or Inf"),
        (lambda: translate(ws2, [float("nan"), 0.0]), "offset holds NaN or Inf"),
        (lambda: blend(ws2, "other.safetensors", 0.5), "accepted: an INR"),
    ]
    for fn, accepted in cases:
        with pytest.raises(ValueError) as err:
            fn()
        assert "\n" not in str(err.value) and accepted in str(err.value), str(err.value)


def test_maps_that_bring_points_from_outside_the_fitted_box_into_view_warn_and_the_others_do_not():
    ws = siren(SPECS["image"], 28)
    for fn in (lambda: scale(ws, 0.5), lambda: translate(ws, [0.3, 0.0]), lambda: rotate(ws, 0.3)):
        with pytest.warns(UserWarning, match=r"outside \[-1, 1\]\^2, where it was never fitted"):
            fn()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the box onto itself or into itself: no warning
        mirror(ws, "x"), scale(ws, 2.0), rotate(ws, math.pi / 2), symmetrize_exact(ws, "y")


def test_registry_lists_every_exact_edit_with_parameter_docs():
    assert set(EXACT_EDITS) == {"mirror", "translate", "rotate", "scale", "affine", "symmetrize_exact", "blend"}
    for name, e in EXACT_EDITS.items():
        assert e.name == name and callable(e.fn) and e.summary and e.params
    ws = siren(SPECS["image"], 27)
    out = get_exact_edit("rotate").fn(ws, angle=0.1)
    assert isinstance(out, WeightSpace) and out.dtype == torch.float64


def test_translate_names_its_offset_in_errors():
    from dws_edit.edits import translate
    from dws_edit.inr import image_spec, init_siren

    ws = init_siren(image_spec(), 1)
    with pytest.raises(ValueError, match=r"offset of shape \(3,\) is not accepted: expected \[2\] or \[B, 2\]"):
        translate(ws, [0.1, 0.0, 0.0])
    with pytest.raises(ValueError, match="offset 'abc' is not accepted: expected numbers"):
        translate(ws, "abc")


@pytest.mark.parametrize("d0, order", [(2, 8), (3, 48)])
def test_cube_symmetries_draw_the_whole_group_and_turn_inrs_exactly(d0, order):
    A = cube_symmetries(2000, d0, torch.Generator().manual_seed(0)).to(torch.float64)
    assert ((A != 0).sum(-1) == 1).all() and (A.abs().sum(-1) == 1).all()  # one +-1 per row: signed permutations
    torch.testing.assert_close(A @ A.transpose(-1, -2), torch.eye(d0, dtype=torch.float64).expand_as(A))
    assert len({tuple(a.flatten().tolist()) for a in A}) == order  # every element of the group is drawn
    spec = SPECS["image"] if d0 == 2 else SPECS["field"]
    ws, x = siren(spec, seed=7), points(d0, seed=8)
    turned = affine(ws, A[:B])
    want = evaluate(ws, torch.einsum("bij,mj->bmi", A[:B], x))  # f(A x), per INR
    assert_same_function(evaluate(turned, x), want)


def test_cube_symmetries_keep_a_share_as_the_identity():
    g = torch.Generator().manual_seed(1)
    eye = torch.eye(3)
    assert (cube_symmetries(50, 3, g, p=0.0) == eye).all()
    share = (cube_symmetries(4000, 3, g, p=0.25) == eye).all(-1).all(-1).float().mean().item()
    assert abs(share - (0.75 + 0.25 / 48)) < 0.03
    with pytest.raises(ValueError, match="probability"):
        cube_symmetries(4, 3, g, p=1.5)
