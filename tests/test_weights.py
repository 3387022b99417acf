import pytest
import torch
from helpers.strategies import assert_ws_close, random_perms, random_ws, specs
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from dws_edit import NetworkSpec, WeightSpace, WeightStats
from dws_edit.nn.baselines import align_to_reference

SPEC = NetworkSpec((2, 5, 4, 1))


def test_spec_facts_and_json_round_trip():
    spec = NetworkSpec((2, 32, 32, 1), w0=30.0, output_offset=0.5)
    assert spec.num_params == 2 * 32 + 32 + 32 * 32 + 32 + 32 + 1
    assert spec.hidden_sizes == (32, 32)
    assert NetworkSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("sizes", [(3,), (2, 0, 1), ()])
def test_spec_rejects_bad_sizes(sizes):
    with pytest.raises(ValueError, match="layer_sizes"):
        NetworkSpec(sizes)


def test_spec_rejects_unknown_activation_and_fields():
    with pytest.raises(ValueError, match="activation"):
        NetworkSpec((2, 3, 1), activation="gelu")
    with pytest.raises(ValueError, match="unknown NetworkSpec fields"):
        NetworkSpec.from_dict({"layer_sizes": [2, 3, 1], "width": 3})


@given(specs(), st.integers(1, 3), st.integers(1, 3), st.integers(0, 100))
def test_flatten_round_trip(spec, batch, channels, seed):
    ws = random_ws(spec, batch, channels, seed)
    flat = ws.flatten()
    assert flat.shape == (batch, channels, spec.num_params)
    assert_ws_close(WeightSpace.from_flat(flat, spec), ws, atol=0)
    # order: W_1 row-major, then b_1, ...
    o, n = spec.weight_shapes[0]
    torch.testing.assert_close(flat[..., : o * n], ws.weights[0].reshape(batch, channels, -1))
    torch.testing.assert_close(flat[..., o * n : o * n + o], ws.biases[0])


def test_shape_mismatch_names_the_layer():
    ws = WeightSpace.randn(SPEC, 2)
    bad = list(ws.weights)
    bad[1] = torch.zeros(2, 1, 4, 6)
    with pytest.raises(ValueError, match=r"layer 1 weight has shape \(2, 1, 4, 6\).*\[B, C, 4, 5\]"):
        WeightSpace(SPEC, tuple(bad), ws.biases)
    with pytest.raises(ValueError, match=r"layer 0 bias has shape"):
        WeightSpace(SPEC, ws.weights, (torch.zeros(2, 1, 4),) + ws.biases[1:])
    with pytest.raises(ValueError, match="do not fit spec"):
        WeightSpace.from_flat(torch.zeros(3, SPEC.num_params + 1), SPEC)


def test_non_finite_values_rejected_at_the_boundary():
    ws = WeightSpace.randn(SPEC, 2)
    w = ws.weights[2].clone()
    w[0, 0, 0, 0] = float("nan")
    w[1, 0, 0, 1] = float("inf")
    with pytest.raises(ValueError, match=r"layer 2 weight \(2, 1, 1, 4\) holds 1 NaN and 1 Inf"):
        WeightSpace.from_tensors(SPEC, ws.weights[:2] + (w,), ws.biases)
    flat = ws.flatten()
    flat[0, 0, -1] = float("inf")
    with pytest.raises(ValueError, match="layer 2 bias"):
        WeightSpace.from_flat(flat, SPEC)


@given(specs(), st.integers(0, 100), st.booleans())
def test_permutation_then_inverse_is_identity(spec, seed, per_network):
    ws = random_ws(spec, 3, 2, seed)
    perms = random_perms(ws, seed, per_network)
    inverse = [torch.argsort(p, dim=-1) for p in perms]
    assert_ws_close(ws.permute(perms).permute(inverse), ws, atol=0)


def test_permute_moves_neurons_consistently():
    ws = random_ws(SPEC, 1, 1, 0)
    perm = torch.tensor([4, 0, 1, 2, 3])
    out = ws.permute([perm, torch.arange(4)])
    torch.testing.assert_close(out.weights[0][0, 0, 1], ws.weights[0][0, 0, 0])
    torch.testing.assert_close(out.biases[0][0, 0, 1], ws.biases[0][0, 0, 0])
    torch.testing.assert_close(out.weights[1][0, 0, :, 1], ws.weights[1][0, 0, :, 0])


def test_linears_and_state_dict_round_trip():
    torch.manual_seed(0)
    linears = [nn.Linear(2, 5), nn.Linear(5, 4), nn.Linear(4, 1)]
    ws = WeightSpace.from_linears(linears)
    assert ws.spec.layer_sizes == (2, 5, 4, 1)
    for a, b in zip(ws.to_linears(), linears):
        torch.testing.assert_close(a.weight, b.weight)
        torch.testing.assert_close(a.bias, b.bias)
    sd = nn.Sequential(*linears).state_dict()
    sd = {k.replace("0.", "layers.0.").replace("1.", "layers.1.").replace("2.", "layers.2."): v for k, v in sd.items()}
    assert_ws_close(WeightSpace.from_state_dict(sd, ws.spec), ws, atol=0)
    assert_ws_close(WeightSpace.from_state_dict(ws.to_state_dict(), ws.spec), ws, atol=0)
    with pytest.raises(ValueError, match="lacks 'layers.2.bias'"):
        WeightSpace.from_state_dict({k: v for k, v in sd.items() if k != "layers.2.bias"}, ws.spec)


def test_arithmetic_and_cat():
    a, b = random_ws(SPEC, 2, 1, 0), random_ws(SPEC, 2, 1, 1)
    torch.testing.assert_close((a + b - b).flatten(), a.flatten())
    torch.testing.assert_close((2 * a / 2).flatten(), a.flatten())
    both = WeightSpace.cat([a, b])
    assert both.batch_size == 4
    torch.testing.assert_close(both[2:].flatten(), b.flatten())
    assert WeightSpace.cat([a, b], dim=1).channels == 2


def test_stats_normalize_per_tensor_and_survive_a_file_round_trip():
    from dws_edit.nn import WeightNormalizer

    ws = random_ws(SPEC, 16, 1, 0) * 3 + 1
    stats = WeightStats.of(ws)
    normalizer = WeightNormalizer(SPEC).double()
    normalizer.set_stats(stats)
    normed = normalizer.normalize(ws)
    for t in normed.tensors():
        assert abs(t.mean().item()) < 1e-6
        assert abs(t.std().item() - 1) < 1e-6
    again = WeightStats.from_tensors(stats.to_tensors(), SPEC.num_layers)
    other = WeightNormalizer(SPEC).double()
    other.set_stats(again)
    assert_ws_close(other.normalize(ws), normed, atol=0)


def test_alignment_undoes_a_permutation():
    ref = random_ws(NetworkSpec((2, 6, 5, 1)), 1, 1, 0)
    batch = WeightSpace.cat([ref, ref, ref])
    permuted = batch.permute(random_perms(batch, 3))
    assert not torch.allclose(permuted.flatten(), batch.flatten())
    assert_ws_close(align_to_reference(permuted, ref), batch, atol=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(w0=0.0), "w0 = 0.0"),
        (dict(w0=-30.0), "finite w0 > 0"),
        (dict(w0=float("nan")), "w0 = nan"),
        (dict(output_offset=float("inf")), "output_offset"),
    ],
)
def test_spec_that_cannot_work_is_refused_when_made(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NetworkSpec((2, 32, 32, 1), **kwargs)


@pytest.mark.parametrize("sizes", [((2, 5, 4, 1), (2, 3, 7, 1)), ((3, 6, 4), (3, 2, 4)), ((2, 3), (2, 3))])
def test_concat_networks_computes_the_weighted_sum_of_functions(sizes):
    from dws_edit.inr import evaluate
    from dws_edit.weights import concat_networks

    a_spec, b_spec = (NetworkSpec(s, w0=2.0, output_offset=0.5) for s in sizes)
    g = torch.Generator().manual_seed(0)
    a = WeightSpace.randn(a_spec, 3, generator=g, dtype=torch.float64)
    b = WeightSpace.randn(b_spec, 3, generator=g, dtype=torch.float64)
    t = torch.tensor([0.0, 0.3, 1.5], dtype=torch.float64)
    mixed = concat_networks([a, b], [1 - t, t])
    assert mixed.spec.hidden_sizes == tuple(x + y for x, y in zip(a_spec.hidden_sizes, b_spec.hidden_sizes))
    x = torch.rand(40, sizes[0][0], dtype=torch.float64) * 2 - 1
    want = (1 - t)[:, None, None] * evaluate(a, x) + t[:, None, None] * evaluate(b, x)
    torch.testing.assert_close(evaluate(mixed, x), want, atol=1e-12, rtol=1e-12)
    with pytest.raises(ValueError, match="hidden widths may differ"):
        concat_networks([a, b.with_spec(NetworkSpec(sizes[1], w0=3.0, output_offset=0.5))], [0.5, 0.5])
