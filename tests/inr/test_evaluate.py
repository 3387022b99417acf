import pytest
import torch
from helpers.strategies import random_perms, random_ws, specs
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from dws_edit import NetworkSpec
from dws_edit.inr import evaluate


@given(specs(max_io=3), st.sampled_from([1.0, 30.0]), st.integers(0, 1000))
def test_permuted_siren_computes_the_same_function(spec, w0, seed):
    spec = NetworkSpec(spec.layer_sizes, activation="sine", w0=w0, output_offset=0.5)
    ws = random_ws(spec, 3, 1, seed) * 0.3
    coords = torch.rand(50, spec.layer_sizes[0], dtype=torch.float64) * 2 - 1
    permuted = ws.permute(random_perms(ws, seed + 1))
    torch.testing.assert_close(evaluate(permuted, coords), evaluate(ws, coords), atol=1e-6, rtol=0)


@given(specs(max_io=3), st.sampled_from([1.0, 30.0]), st.integers(0, 1000))
def test_sign_flipped_siren_computes_the_same_function_and_a_relu_network_is_refused(spec, w0, seed):
    spec = NetworkSpec(spec.layer_sizes, activation="sine", w0=w0, output_offset=0.5)
    ws = random_ws(spec, 3, 1, seed) * 0.3
    coords = torch.rand(50, spec.layer_sizes[0], dtype=torch.float64) * 2 - 1
    g = torch.Generator().manual_seed(seed)
    signs = [torch.where(torch.rand(3, d, generator=g) < 0.5, -1.0, 1.0) for d in spec.hidden_sizes]
    flipped = ws.flip_signs(signs)
    torch.testing.assert_close(evaluate(flipped, coords), evaluate(ws, coords), atol=1e-6, rtol=0)
    if any((s < 0).any() for s in signs):  # the weights did change
        assert any(not torch.equal(a, b) for a, b in zip(flipped.weights, ws.weights))
    with pytest.raises(ValueError, match="ReLU is not odd"):
        ws.with_spec(NetworkSpec(spec.layer_sizes, activation="relu")).flip_signs(signs)


def test_evaluate_matches_a_torch_siren():
    spec = NetworkSpec((2, 16, 16, 1), w0=30.0, output_offset=0.5)
    torch.manual_seed(0)
    linears = [nn.Linear(2, 16).double(), nn.Linear(16, 16).double(), nn.Linear(16, 1).double()]
    from dws_edit import WeightSpace

    ws = WeightSpace.from_linears(linears, spec)
    x = torch.rand(100, 2, dtype=torch.float64) * 2 - 1
    h = x
    for lin in linears[:-1]:
        h = torch.sin(30.0 * lin(h))
    expected = linears[-1](h) + 0.5
    torch.testing.assert_close(evaluate(ws, x)[0], expected)
    torch.testing.assert_close(evaluate(ws, x[None])[0], expected)


def test_evaluate_rejects_bad_coords():
    from dws_edit import WeightSpace

    ws = WeightSpace.randn(NetworkSpec((2, 4, 1)), 2)
    with pytest.raises(ValueError, match=r"expected \[N, 2\]"):
        evaluate(ws, torch.zeros(5, 3))
    with pytest.raises(ValueError, match="3 point sets for 2 INRs"):
        evaluate(ws, torch.zeros(3, 5, 2))


def test_large_evaluations_run_in_slices_with_the_values_of_one_call(monkeypatch):
    import importlib

    from dws_edit import WeightSpace

    evaluate_module = importlib.import_module("dws_edit.inr.evaluate")  # the module, not the function
    spec = NetworkSpec((3, 8, 8, 1), w0=15.0)
    ws = WeightSpace.randn(spec, 3, generator=torch.Generator().manual_seed(0)) * 0.3
    coords = torch.rand(3, 1000, 3, generator=torch.Generator().manual_seed(1)) * 2 - 1
    calls = []
    real = evaluate_module.layer_values
    monkeypatch.setattr(evaluate_module, "layer_values", lambda w, c: calls.append(c.shape[-2]) or real(w, c))
    whole = evaluate(ws, coords, max_elements=0)  # one call
    assert calls == [1000]
    calls.clear()
    sliced = evaluate(ws, coords, max_elements=3 * 8 * 256)  # 256 points an INR a slice
    assert calls == [256, 256, 256, 232]
    torch.testing.assert_close(sliced, whole, atol=1e-6, rtol=0)
    shared_whole = evaluate(ws, coords[0], max_elements=0)  # points shared by the INRs: sliced alike
    calls.clear()
    torch.testing.assert_close(evaluate(ws, coords[0], max_elements=3 * 8 * 256), shared_whole, atol=1e-6, rtol=0)
    assert calls == [256, 256, 256, 232]
    calls.clear()
    weights = ws.map(lambda t: t.clone().requires_grad_(True))
    out = evaluate(weights, coords, max_elements=3 * 8 * 256)  # a gradient flows: one call, as autograd needs
    assert calls == [1000] and out.requires_grad
    with pytest.raises(ValueError, match=r"expected \[N, 3\]"):
        evaluate(ws, torch.zeros(3, 1000, 2), max_elements=3 * 8 * 256)
