"""Fitting recipes of other codes (vsitzmann/siren's initialisation, DeepSDF's clamped L1 loss) for zoos of INRs as
users bring them."""

import math

import pytest
import torch

from dws_edit.data.sources import ShapeSource
from dws_edit.data.zoo import FitOptions, fit_zoo, load_zoo
from dws_edit.inr import evaluate, init_siren, sdf_spec
from dws_edit.inr.fitting import mse_and_grads
from dws_edit.weights import NetworkSpec, WeightSpace


def test_zero_bias_scheme_is_the_zoos_initialisation():
    spec = sdf_spec()
    ws = init_siren(spec, 3, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    first = (torch.rand(3, 1, 32, 3, generator=g) * 2 - 1) * (1.0 / 3)
    assert torch.equal(ws.weights[0], first)
    assert all(not b.any() for b in ws.biases)


def test_vsitzmann_scheme_is_that_network_written_at_the_specs_w0():
    spec = sdf_spec()  # w0 15
    ws = init_siren(spec, 64, torch.Generator().manual_seed(0), "vsitzmann")
    assert ws.spec == spec
    # built at w0 30: the first layer's bound 1/3 and the hidden biases' 1/sqrt(fan_in) are doubled at w0 15
    assert 0.6 < ws.weights[0].abs().max() <= 2 / 3
    assert 0.3 < ws.biases[1].abs().max() <= 2 / math.sqrt(32)
    assert ws.biases[-1].abs().max() <= 1 / math.sqrt(32)  # the linear last layer is not rescaled
    g = torch.Generator().manual_seed(0)
    at30 = NetworkSpec(spec.layer_sizes, "sine", 30.0, 0.0)
    w = [(torch.rand(64, 1, o, n, generator=g) * 2 - 1) * (1 / n if i == 0 else math.sqrt(6 / n) / 30)
         for i, (o, n) in enumerate(at30.weight_shapes)]  # fmt: skip
    b = [(torch.rand(64, 1, o, generator=g) * 2 - 1) / math.sqrt(n)
         for (o,), (_, n) in zip(at30.bias_shapes, at30.weight_shapes)]  # fmt: skip
    x = torch.rand(100, 3) * 2 - 1
    torch.testing.assert_close(evaluate(ws, x), evaluate(WeightSpace(at30, tuple(w), tuple(b)), x))
    with pytest.raises(ValueError, match="accepted: zero-bias, vsitzmann"):
        init_siren(spec, 1, None, "xavier")


@pytest.mark.parametrize("shared", [True, False])
def test_clamped_l1_gradient_matches_autograd_of_deepsdfs_loss(shared):
    spec = NetworkSpec((3, 7, 5, 1), w0=4.0, output_offset=0.0)
    ws = WeightSpace.randn(spec, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 0.3
    coords = torch.rand(4, 50, 3, dtype=torch.float64) * 2 - 1
    coords = coords[0] if shared else coords
    targets = (torch.rand(4, 50, 1, dtype=torch.float64) - 0.5) * 0.5
    mse, grads = mse_and_grads(spec, list(ws.tensors()), coords, targets, clamp=0.1)
    leaves = [t.clone().requires_grad_(True) for t in ws.tensors()]
    pred = evaluate(WeightSpace(spec, tuple(leaves[0::2]), tuple(leaves[1::2])), coords)
    assert (pred.abs() < 0.1).any() and (pred.abs() > 0.1).any(), "both sides of the clamp are exercised"
    loss = (pred.clamp(-0.1, 0.1) - targets.clamp(-0.1, 0.1)).abs().mean(dim=(1, 2))
    torch.testing.assert_close(mse, (pred - targets).square().mean(dim=(1, 2)).detach())  # the error stays the MSE
    for got, want in zip(grads, torch.autograd.grad(loss.sum(), leaves)):
        torch.testing.assert_close(got, want)


def test_a_deepsdf_zoo_records_its_recipe_and_differs_from_the_zoo_recipe(tmp_path):
    source = ShapeSource(families=("primitive",), per_family=4, points=256)
    made = {}
    for recipe in ("zoo", "deepsdf"):
        options = FitOptions.for_source(source, max_steps=30, recipe=recipe, min_reached=0.0, shard_size=4)
        manifest = fit_zoo(source, tmp_path / recipe, options, progress=False)
        assert manifest["fit"]["recipe"] == recipe
        made[recipe] = load_zoo(tmp_path / recipe, "all").ws
    assert made["zoo"].spec == made["deepsdf"].spec == sdf_spec()
    assert not made["zoo"].biases[0].abs().max() > 0.3  # zero biases moved by 30 small steps
    assert made["deepsdf"].biases[0].abs().max() > 0.3  # vsitzmann's spread
    with pytest.raises(ValueError, match="accepted: zoo, vsitzmann, deepsdf"):
        fit_zoo(source, tmp_path / "x", FitOptions.for_source(source, recipe="eikonal"), progress=False)
    with pytest.raises(ValueError, match="accepted: SDF zoos"):
        fit_zoo(ShapeSource(families=("primitive",), per_family=2, points=64, field=True), tmp_path / "f",
                FitOptions.for_source(source, recipe="deepsdf"), progress=False)  # fmt: skip
    assert not (tmp_path / "x").exists() and not (tmp_path / "f" / "manifest.json").exists()
