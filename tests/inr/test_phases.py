"""canonical_phases: the bias-period symmetry of sine networks, and the edit models' invariance to it."""

import math

import pytest
import torch

from dws_edit import WeightSpace
from dws_edit.inr import canonical_phases, evaluate, image_spec, init_siren, sdf_spec
from dws_edit.nn import DWSEditNet, FlatMLPEditNet
from dws_edit.weights import NetworkSpec


def _shifted(ws: WeightSpace, periods: int, seed: int) -> WeightSpace:
    """The same SIRENs with each hidden bias moved by a random whole number of periods 2 pi / w0 (up to ``periods``)."""
    g = torch.Generator().manual_seed(seed)
    period, last = 2 * math.pi / ws.spec.w0, len(ws.biases) - 1
    biases = tuple(b if i == last else b + period * torch.randint(-periods, periods + 1, b.shape, generator=g)
                   for i, b in enumerate(ws.biases))  # fmt: skip
    return WeightSpace(ws.spec, ws.weights, biases)


@pytest.mark.parametrize("spec", [sdf_spec(), image_spec(), sdf_spec((16, 24, 8), w0=30.0)])
def test_canonical_phases_keeps_the_function_and_wraps_every_hidden_bias(spec):
    torch.manual_seed(0)
    ws = init_siren(spec, 3, torch.Generator().manual_seed(1))
    ws = WeightSpace(spec, ws.weights, tuple(torch.randn_like(b) for b in ws.biases))  # biases over many periods
    out = canonical_phases(ws)
    x = torch.rand(500, spec.layer_sizes[0]) * 2 - 1
    assert torch.allclose(evaluate(out, x), evaluate(ws, x), atol=1e-4)
    limit = math.pi / spec.w0
    for b in out.biases[:-1]:
        assert b.abs().max() <= limit + 1e-6
    assert torch.equal(out.biases[-1], ws.biases[-1]) and all(
        torch.equal(a, b) for a, b in zip(out.weights, ws.weights)
    )
    assert any((a != b).any() for a, b in zip(out.biases, ws.biases))  # something was wrapped


def test_canonical_phases_leaves_every_zoo_inr_unchanged(tiny_image_zoo, tiny_shape_zoos):
    """The zoos' recipes (zero biases at the start) keep hidden biases within half a period: the edit models see the
    zoos' INRs exactly as they were trained on them."""
    from dws_edit.data import load_zoo

    for zoo in (tiny_image_zoo, tiny_shape_zoos["sdf"], tiny_shape_zoos["field"]):
        for split in ("train", "val", "test"):
            ws = load_zoo(zoo, split).ws
            assert all(torch.equal(a, b) for a, b in zip(canonical_phases(ws).biases, ws.biases)), (zoo, split)


def test_canonical_phases_leaves_zoo_like_inrs_and_non_sine_networks_unchanged():
    ws = init_siren(sdf_spec(), 2, torch.Generator().manual_seed(0))
    small = WeightSpace(ws.spec, ws.weights, tuple(0.05 * torch.randn_like(b).clamp(-2, 2) for b in ws.biases))
    assert all(torch.equal(a, b) for a, b in zip(canonical_phases(small).biases, small.biases))
    relu = NetworkSpec((3, 8, 1), activation="relu")
    big = WeightSpace(relu, tuple(torch.randn(1, 1, *s) for s in relu.weight_shapes),
                      tuple(10 * torch.randn(1, 1, *s) for s in relu.bias_shapes))  # fmt: skip
    assert canonical_phases(big) is big


@pytest.mark.parametrize("make", [
    lambda spec: DWSEditNet(spec, hidden=8, depth=2, cond_dim=1, init_scale=0.5),
    lambda spec: DWSEditNet(spec, hidden=8, depth=2, cond_dim=1, outputs=2, keep=True, init_scale=0.5),
    lambda spec: FlatMLPEditNet(spec, hidden=16, cond_dim=1),
])  # fmt: skip
def test_edit_models_are_invariant_to_whole_periods_of_the_hidden_biases(make):
    """Two weight vectors of one SIREN that differ by whole periods of its biases get the same edit."""
    torch.manual_seed(0)
    spec = sdf_spec((6, 5))
    model = make(spec).eval()
    ws = init_siren(spec, 2, torch.Generator().manual_seed(2))
    ws = WeightSpace(spec, ws.weights, tuple(0.05 * torch.randn_like(b) for b in ws.biases))
    cond = torch.randn(2, 1)
    with torch.no_grad():
        a, b = model(ws, cond), model(_shifted(ws, 3, seed=4), cond)
    assert all(torch.allclose(x, y, atol=1e-5) for x, y in zip(a.tensors(), b.tensors()))
