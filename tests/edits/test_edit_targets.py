"""Learned edits' functional targets against independent computations, plus parameters, encoding and registry."""

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import grey_dilation

from dws_edit.data.shapes import sample_shape, sample_shapes
from dws_edit.edits import DOMAINS, EDITS, domain_of, get_edit, symmetrize_exact
from dws_edit.edits.targets import without_group
from dws_edit.inr import evaluate, field_spec, grid_coords, image_spec, init_siren, sdf_spec, sine_spec
from dws_edit.weights import NetworkSpec, WeightSpace

B, M = 3, 300
SPECS = {"image": image_spec(), "sdf": sdf_spec(), "field": field_spec()}


def siren(spec: NetworkSpec, seed: int, batch: int = B) -> WeightSpace:
    g = torch.Generator().manual_seed(seed)
    ws = init_siren(spec, batch, generator=g).to(torch.float64)
    biases = tuple(0.3 * torch.randn(b.shape, generator=g, dtype=torch.float64) / spec.w0 for b in ws.biases)
    return WeightSpace(spec, ws.weights, biases)


def points(d0: int, seed: int, n: int = M) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d0, generator=g, dtype=torch.float64) * 2 - 1


def f_of(ws: WeightSpace):
    return lambda c: evaluate(ws, c)


# ------------------------------------------------------------------------------------------------ symmetrize


@pytest.mark.parametrize("domain", list(SPECS))
def test_symmetrize_target_is_the_mirrored_average_per_network_axis(domain):
    ws = siren(SPECS[domain], 1)
    d0 = DOMAINS[domain].d0
    x = points(d0, 2)
    axes = torch.tensor([0, 1, d0 - 1])  # one axis per network
    got = get_edit("symmetrize").target(f_of(ws), x, {"axis": axes}, domain)
    for b, axis in enumerate(axes.tolist()):
        flipped = x.clone()
        flipped[:, axis] *= -1
        want = 0.5 * (evaluate(ws[b], x) + evaluate(ws[b], flipped))
        torch.testing.assert_close(got[b : b + 1], want, rtol=0, atol=1e-12)
    # the learned edit's target is what the exact weight-space edit computes
    exact = evaluate(symmetrize_exact(ws, "x"), x)
    torch.testing.assert_close(get_edit("symmetrize").target_of(ws, x, {"axis": "x"}), exact, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------------ remove


def inside_box(x: torch.Tensor, box: list[float]) -> torch.Tensor:
    d = x.shape[-1]
    lo, hi = torch.tensor(box[:d], dtype=x.dtype), torch.tensor(box[d:], dtype=x.dtype)
    return ((x >= lo) & (x <= hi)).all(-1)


def reference_box_sdf(x: torch.Tensor, box: list[float]) -> torch.Tensor:
    """Outside: distance to the nearest point of the box (clamp); inside: minus the distance to the nearest face."""
    d = x.shape[-1]
    lo, hi = torch.tensor(box[:d], dtype=x.dtype), torch.tensor(box[d:], dtype=x.dtype)
    outside = (x - x.clamp(lo, hi)).norm(dim=-1)
    inside = torch.maximum(lo - x, x - hi).amax(-1)
    return torch.where(inside_box(x, box), inside, outside)


def test_remove_image_sets_background_inside_the_box_in_every_channel():
    ws = siren(image_spec(channels=3), 3)
    x, box = points(2, 4), [-0.5, -0.2, 0.3, 0.6]
    got = get_edit("remove").target_of(ws, x, {"box": box})
    inside = inside_box(x, box)
    assert 0 < inside.sum() < M
    assert (got[:, inside] == 0).all()
    torch.testing.assert_close(got[:, ~inside], evaluate(ws, x)[:, ~inside], rtol=0, atol=0)


def test_remove_sdf_is_csg_subtraction_of_the_exact_box():
    ws = siren(sdf_spec(), 5)
    x, box = points(3, 6), [-0.4, -0.3, -0.6, 0.5, 0.2, 0.4]
    got = get_edit("remove").target_of(ws, x, {"box": box})
    want = torch.maximum(evaluate(ws, x), -reference_box_sdf(x, box)[None, :, None])
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_remove_field_zeroes_density_inside_and_keeps_colors():
    ws = siren(field_spec(), 7)
    x = points(3, 8)
    boxes = torch.tensor(
        [[-0.5, -0.5, -0.5, 0.5, 0.5, 0.5], [0.0, -1.0, -0.2, 1.0, 0.0, 0.8], [-1, -1, -1, -0.8, -0.8, -0.8]]
    )
    got = get_edit("remove").target_of(ws, x, {"box": boxes})
    f = evaluate(ws, x)
    for b in range(B):
        inside = inside_box(x, boxes[b].tolist())
        assert (got[b, inside, 0] == 0).all()
        torch.testing.assert_close(got[b, inside, 1:], f[b, inside, 1:], rtol=0, atol=0)
        torch.testing.assert_close(got[b, ~inside], f[b, ~inside], rtol=0, atol=0)


@pytest.mark.parametrize("domain", ["sdf", "field"])
def test_remove_sphere(domain):
    ws = siren(SPECS[domain], 9)
    x = points(3, 10)
    center, radius = torch.tensor([0.1, -0.2, 0.3]), 0.5
    got = get_edit("remove_sphere").target_of(ws, x, {"center": center, "radius": radius})
    dist = (x - center.double()).norm(dim=-1) - radius
    f = evaluate(ws, x)
    if domain == "sdf":
        torch.testing.assert_close(got, torch.maximum(f, -dist[None, :, None]), rtol=0, atol=1e-12)
    else:
        inside = dist <= 0
        assert 0 < inside.sum() < M and (got[:, inside, 0] == 0).all()
        torch.testing.assert_close(got[:, ~inside], f[:, ~inside], rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------ dilate


@pytest.mark.parametrize("channels", [1, 3])
def test_dilate_on_the_grid_is_scipy_grey_dilation_of_the_rendering(channels):
    ws = siren(image_spec(channels=channels), 11, batch=2)
    xs = torch.arange(28, dtype=torch.float64) * (2 / 27) - 1  # the pixel grid in float64, (x, y), row-major
    grid = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2)
    torch.testing.assert_close(grid.float(), grid_coords(28, 28))
    got = get_edit("dilate").target_of(ws, grid, {})  # [2, 784, C]
    image = evaluate(ws, grid).reshape(2, 28, 28, channels).numpy()
    want = np.stack([grey_dilation(image[b], size=(3, 3, 1), mode="nearest") for b in range(2)])
    np.testing.assert_allclose(got.reshape(2, 28, 28, channels).numpy(), want, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------------ smooth


def sinusoid(k: torch.Tensor, phase: float):
    """f(x) = sin(k_b . x + phase) for a batch of wave vectors k [B, d0]; coords [M, d0] or [B, M, d0]."""

    def f(c):
        c = c.expand(k.shape[0], *c.shape) if c.dim() == 2 else c
        return torch.sin(torch.einsum("bmd,bd->bm", c, k) + phase)[..., None]

    return f


@pytest.mark.parametrize("domain", ["image", "sdf"])
def test_smooth_of_a_sinusoid_is_its_analytic_gaussian_blur(domain):
    d0 = DOMAINS[domain].d0
    g = torch.Generator().manual_seed(12)
    direction = torch.nn.functional.normalize(torch.randn(B, d0, generator=g, dtype=torch.float64), dim=-1)
    sigma = torch.tensor([0.02, 0.05, 0.1], dtype=torch.float64)
    k = direction * (torch.tensor([150.0, 40.0, 25.0], dtype=torch.float64)[:, None])  # |k| sigma = 3, 2, 2.5
    x = points(d0, 13, n=60 if d0 == 3 else M)
    got = get_edit("smooth").target(sinusoid(k, 0.4), x, {"sigma": sigma}, domain)
    factor = torch.exp(-(k * k).sum(-1) * sigma**2 / 2)[:, None, None]
    want = factor * sinusoid(k, 0.4)(x)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-4)


def test_smooth_of_a_constant_is_the_constant_and_chunking_does_not_matter():
    const = lambda c: torch.full((2, c.shape[-2], 1), 0.7, dtype=torch.float64)  # noqa: E731
    x = points(3, 14, n=50)
    got = get_edit("smooth").target(const, x, {"sigma": 0.1}, "sdf", chunk=100)
    torch.testing.assert_close(got, torch.full_like(got, 0.7), rtol=0, atol=1e-13)
    ws = siren(image_spec(), 15)
    y = points(2, 16, n=50)
    a = get_edit("smooth").target_of(ws, y, {"sigma": 0.05})
    b = get_edit("smooth").target_of(ws, y, {"sigma": 0.05}, chunk=500)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_smooth_at_small_sigma_approaches_f():
    ws = siren(image_spec(), 17)
    x = points(2, 18, n=100)
    f = evaluate(ws, x)
    fn = get_edit("smooth").fn  # below the trained range, so called past validation
    errors = [
        (fn(f_of(ws), x, {"sigma": torch.tensor([s], dtype=torch.float64)}, "image") - f).abs().max()
        for s in (1e-2, 1e-3, 1e-4)
    ]
    assert errors[2] < 1e-5 * f.abs().max()
    assert errors[0] > 30 * errors[1] > 30 * 30 * errors[2]  # second order in sigma


def test_smooth_quadrature_has_converged_on_sirens():
    """Default quadrature (13 points over +-4 sigma) against a much finer one, on SIRENs with doubled first-layer
    frequencies (w0 |W_0| up to 30 rad per unit), at the smallest sigma, where aliasing would show first."""
    spec = image_spec()
    ws = siren(spec, 19)
    ws = WeightSpace(spec, (2 * ws.weights[0], *ws.weights[1:]), ws.biases)
    x = points(2, 20, n=40)
    edit = get_edit("smooth")
    coarse = edit.target_of(ws, x, {"sigma": 0.02})
    fine = edit.target_of(ws, x, {"sigma": 0.02}, points=31, extent=6.0)
    torch.testing.assert_close(coarse, fine, rtol=0, atol=1e-5)


def test_batched_coords_and_sigma_match_separate_calls():
    ws = siren(sdf_spec(), 21)
    x = torch.stack([points(3, 22 + b, n=20) for b in range(B)])
    sigma = torch.tensor([0.02, 0.06, 0.1])
    got = get_edit("smooth").target_of(ws, x, {"sigma": sigma}, points=5)
    for b in range(B):
        one = get_edit("smooth").target_of(ws[b], x[b], {"sigma": float(sigma[b])}, points=5)
        torch.testing.assert_close(got[b : b + 1], one, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------------ parameters


@pytest.mark.parametrize("name,domain", [(n, d) for n, e in EDITS.items() for d in e.domains])
def test_samples_are_valid_and_encode_to_fixed_length_order_one_vectors(name, domain):
    edit = get_edit(name)
    params = edit.sample(64, torch.Generator().manual_seed(0), domain)
    again = edit.sample(64, torch.Generator().manual_seed(0), domain)
    assert all(torch.equal(params[k], again[k]) for k in params)  # seeded
    canon = edit.validate(params, domain)  # every sample passes validation
    assert all(t.shape[0] == 64 for t in canon.values())
    cond = edit.encode(params, domain, batch=64)
    assert cond.shape == (64, edit.cond_dim(domain))
    assert cond.abs().max() <= 1.0 if cond.numel() else True
    x = points(DOMAINS[domain].d0, 1, n=8)
    ws = siren(SPECS[domain], 2, batch=64)
    options = {"smooth": {"points": 3}, "remove_part": {"shapes": sample_shapes("car", 64, seed=0)}}.get(name, {})
    out = edit.target_of(ws, x, params, **options)
    assert out.shape == (64, 8, SPECS[domain].layer_sizes[-1]) and torch.isfinite(out).all()


@pytest.mark.parametrize("domain", ["sdf", "field"])
def test_remove_part_is_the_generators_shape_without_the_group(domain):
    mug, table, ball = (
        sample_shapes("mug", 1, seed=3)[0],
        sample_shapes("table", 1, seed=3)[0],
        sample_shape("primitive", torch.Generator().manual_seed(0)),
    )
    handle = mug.parts[mug.part_names.index("handle")]
    on_handle = torch.tensor([handle.params["center"]], dtype=torch.float64) + torch.tensor(
        [[handle.params["major_radius"], 0.0, 0.0]], dtype=torch.float64
    )  # the handle's outermost point
    leg = table.parts[table.part_names.index("leg_front_left")].params["center"]
    x = torch.cat([on_handle, torch.tensor([leg], dtype=torch.float64), torch.zeros(1, 3, dtype=torch.float64)])
    edit = get_edit("remove_part")
    ws = siren(SPECS[domain], 2, batch=3).to(torch.float64)
    out = edit.target_of(ws, x, {"part": ["handle", "legs", "wheels"]}, shapes=[mug, table, ball])
    assert mug.sdf(on_handle) < 0 and table.sdf(x[1:2]) < 0  # inside the part before the edit
    if domain == "sdf":
        assert out[0, 0, 0] > 0.01 and out[1, 1, 0] > 0.01  # outside after it
        torch.testing.assert_close(out[2, :, 0], ball.sdf(x))  # no wheels on a ball: unchanged
        torch.testing.assert_close(out[0, :, 0], mug.without("handle").sdf(x))
        legless = without_group(table, "legs")  # all four legs, the rest kept
        assert not any(n.startswith("leg_") for n in legless.part_names) and len(legless.parts) == len(table.parts) - 4
        torch.testing.assert_close(out[1, :, 0], legless.sdf(x))
    else:
        assert out[0, 0, 0] < 0.5 and out[1, 1, 0] < 0.5 and out.shape == (3, 3, 4)
    with pytest.raises(ValueError, match="needs the INRs' procedural shapes"):
        edit.target_of(ws, x, {"part": "legs"})


def test_encodings():
    enc = get_edit("symmetrize").encode({"axis": ["y", "x"]}, "sdf")
    torch.testing.assert_close(enc, torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    enc = get_edit("smooth").encode({"sigma": torch.tensor([0.02, 0.15, math.sqrt(0.02 * 0.15)])}, "image")
    torch.testing.assert_close(enc[:, 0], torch.tensor([-1.0, 1.0, 0.0]), rtol=0, atol=1e-6)  # log scale
    assert get_edit("smooth").encode({"sigma": 0.1}, "sdf", batch=5).shape == (5, 1)
    assert get_edit("dilate").encode({}, "image", batch=4).shape == (4, 0)
    assert get_edit("remove").cond_dim("image") == 4 and get_edit("remove").cond_dim("field") == 6


def test_domain_of():
    assert domain_of(image_spec()) == "image" and domain_of(image_spec(channels=3)) == "image"
    assert domain_of(sdf_spec()) == "sdf" and domain_of(field_spec()) == "field"
    with pytest.raises(ValueError, match=r"accepted: image \(d0=2, dL=1 or 3\), sdf") as err:
        domain_of(sine_spec())
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: get_edit("blur"), "accepted: learned smooth, symmetrize, remove, remove_sphere, remove_part, dilate;"),
        (
            lambda: get_edit("smooth").validate({"sigma": 0.5}, "image"),
            "sigma=0.5 is outside the accepted range [0.02, 0.15]",
        ),
        (lambda: get_edit("smooth").validate({"sigma": [0.05, float("nan")]}, "sdf"), "sigma=nan is outside"),
        (
            lambda: get_edit("smooth").validate({"sigm": 0.05}, "sdf"),
            "unknown parameter(s) ['sigm']; accepted: sigma in",
        ),
        (lambda: get_edit("smooth").validate({}, "sdf"), "missing parameter(s) ['sigma']"),
        (
            lambda: get_edit("symmetrize").validate({"axis": "z"}, "image"),
            "axis='z' is not accepted; accepted: axis one of ('x', 'y')",
        ),
        (lambda: get_edit("symmetrize").validate({"axis": torch.tensor([0, 3])}, "sdf"), "axis=3 is not accepted"),
        (lambda: get_edit("symmetrize").validate({"axis": "2"}, "image"), "axis=2 is not accepted"),
        (
            lambda: get_edit("remove").validate({"box": [0.5, 0, 0.4, 0.5]}, "image"),
            "side along x (max - min) = -0.1 is outside",
        ),
        (
            lambda: get_edit("remove").validate({"box": [0, 0, 2, 0.5]}, "image"),
            "corner value 2 is outside the accepted range [-1, 1]",
        ),
        (
            lambda: get_edit("remove").validate({"box": [0, 0, 0.5]}, "image"),
            "box must be 4 numbers (min corner then max corner)",
        ),
        (
            lambda: get_edit("remove_sphere").validate({"center": [0, 0, 0], "radius": 1.9}, "sdf"),
            "radius=1.9 is outside the accepted range (0, 1.73205]",
        ),
        (lambda: get_edit("dilate").validate({}, "sdf"), "does not apply to sdf INRs; it accepts: image"),
        (lambda: get_edit("dilate").validate({}, "mesh"), "unknown domain 'mesh'; accepted: image, sdf, field"),
        (
            lambda: (
                get_edit("smooth").validate({"sigma": torch.full((2,), 0.05)}, "sdf")
                and get_edit("remove_sphere").validate(
                    {"center": torch.zeros(2, 3), "radius": torch.full((3,), 0.2)}, "sdf"
                )
            ),
            "different batch sizes",
        ),
        (
            lambda: get_edit("smooth").target(lambda c: c, torch.zeros(5, 3), {"sigma": 0.05}, "image"),
            "expected [M, 2] or [B, M, 2]",
        ),
        (
            lambda: get_edit("smooth").target(lambda c: c, torch.zeros(5, 2), {"sigma": 0.05}, "image", point=3),
            "unknown option(s) ['point']",
        ),
        (
            lambda: get_edit("smooth").target(lambda c: c, torch.zeros(5, 2), {"sigma": 0.05}, "image", points=4),
            "points=4 is not accepted; accepted: an odd integer",
        ),
    ],
)
def test_bad_input_raises_one_line_errors_naming_the_value_and_what_is_accepted(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert "\n" not in str(err.value)
    assert message in str(err.value), str(err.value)


def test_smooth_monte_carlo_is_unbiased_against_the_quadrature():
    from dws_edit.edits import get_edit

    k = torch.tensor([7.0, -4.0], dtype=torch.float64)
    f = lambda c: torch.sin(c @ k)[..., None] if c.dim() == 3 else torch.sin(c @ k)[None, :, None]  # noqa: E731
    coords = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    sigma = torch.tensor([0.1], dtype=torch.float64)
    exact = torch.exp(-0.5 * k.square().sum() * sigma**2) * f(coords)
    g = torch.Generator().manual_seed(0)
    runs = [get_edit("smooth").target(f, coords, {"sigma": sigma}, "image", samples=8, generator=g) for _ in range(400)]
    mc = torch.stack(runs)
    assert (mc[0] - exact).abs().max() > 1e-3  # one estimate is noisy ...
    torch.testing.assert_close(mc.mean(0), exact, atol=0.02, rtol=0)  # ... but unbiased
    with pytest.raises(ValueError, match="samples=3"):
        get_edit("smooth").target(f, coords, {"sigma": sigma}, "image", samples=3)


def test_a_choice_given_by_its_index_as_text_is_that_choice():
    """The command line gives indices as text (--axis 2, --part 0): the registry reads them as the index."""
    sym, part = get_edit("symmetrize"), get_edit("remove_part")
    assert torch.equal(sym.validate({"axis": "2"}, "sdf")["axis"], sym.validate({"axis": "z"}, "sdf")["axis"])
    assert torch.equal(part.validate({"part": "0"}, "sdf")["part"], part.validate({"part": "handle"}, "sdf")["part"])
