import pytest
import torch
from helpers.strategies import assert_ws_close, random_perms, random_ws, specs
from helpers.weightspace_math import layer_matrix, orbit_count_on_pairs, permutation_matrix
from hypothesis import given
from hypothesis import strategies as st

from dws_edit import NetworkSpec, WeightSpace
from dws_edit.nn import DWSLayer
from dws_edit.nn.layer import from_canonical, to_canonical, weight_space_slots


def span_rank(layer: DWSLayer, spec: NetworkSpec) -> int:
    """Rank of {linear part of the layer at theta} over all theta: one matrix per unit parameter vector."""
    params = [p for name, p in layer.named_parameters() if not name.startswith("bias")]
    mats = []
    for p in params:
        for k in range(p.numel()):
            with torch.no_grad():
                for q in layer.parameters():
                    q.zero_()
                p.view(-1)[k] = 1.0
            mats.append(layer_matrix(layer, spec).reshape(-1))
    return int(torch.linalg.matrix_rank(torch.stack(mats)))


COMPLETENESS_SPECS = [
    (2, 3, 1),  # depth 2
    (1, 1, 1, 1),  # width 1 everywhere: many basis maps coincide
    (3, 2, 4, 2),
    (2, 2, 3, 2, 1),  # depth 4
    (1, 4, 1, 3, 2),  # depth 4, widths 1 to 4
]


@pytest.mark.parametrize("sizes", COMPLETENESS_SPECS)
@pytest.mark.parametrize("channels", [(1, 1), (2, 3)])
def test_layer_spans_every_equivariant_linear_map(sizes, channels):
    spec = NetworkSpec(sizes)
    layer = DWSLayer(spec, *channels).double()
    expected = orbit_count_on_pairs(spec) * channels[0] * channels[1]
    assert span_rank(layer, spec) == expected


@pytest.mark.parametrize("sizes", COMPLETENESS_SPECS)
def test_every_layer_matrix_commutes_with_the_group(sizes):
    spec = NetworkSpec(sizes)
    torch.manual_seed(0)
    layer = DWSLayer(spec, 1, 1).double()
    M = layer_matrix(layer, spec)
    g = torch.Generator().manual_seed(1)
    perms = [torch.randperm(d, generator=g) for d in spec.hidden_sizes]
    P = permutation_matrix(spec, perms)
    torch.testing.assert_close(M @ P, P @ M)


@given(specs(), st.integers(1, 4), st.integers(1, 4), st.integers(0, 1000))
def test_layer_is_equivariant(spec, c_in, c_out, seed):
    torch.manual_seed(seed)
    layer = DWSLayer(spec, c_in, c_out).double()
    ws = random_ws(spec, 2, c_in, seed)
    perms = random_perms(ws, seed + 1)
    assert_ws_close(layer(ws.permute(perms)), layer(ws).permute(perms))


def test_bias_is_invariant():
    spec = NetworkSpec((2, 5, 4, 3))
    layer = DWSLayer(spec, 2, 3).double()
    with torch.no_grad():
        for b in layer.bias.values():
            b.normal_()
    out = layer(WeightSpace.zeros(spec, 1, 2, dtype=torch.float64))
    assert out.flatten().abs().sum() > 0
    assert_ws_close(out.permute(random_perms(out, 0)), out, atol=0)


def test_layer_is_width_agnostic():
    small, large = NetworkSpec((2, 4, 4, 1)), NetworkSpec((2, 13, 7, 1))
    a, b = DWSLayer(small, 3, 5), DWSLayer(large, 3, 5)
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]
    a = a.double()
    ws = random_ws(large, 2, 3, 0)
    out = a(ws)  # the layer built for widths (4, 4) runs on widths (13, 7)
    assert out.spec == large and out.channels == 5
    perms = random_perms(ws, 1)
    assert_ws_close(a(ws.permute(perms)), out.permute(perms))


def test_layer_rejects_other_depth_or_io():
    layer = DWSLayer(NetworkSpec((2, 4, 4, 1)), 1, 2)
    for sizes in [(2, 4, 1), (3, 4, 4, 1), (2, 4, 4, 2)]:
        with pytest.raises(ValueError, match="DWSLayer built for 3 layers, d0=2, dL=1"):
            layer(WeightSpace.zeros(NetworkSpec(sizes)))


@given(specs(min_layers=1), st.integers(1, 3))
def test_canonical_form_round_trip(spec, channels):
    ws = random_ws(spec, 2, channels, 0)
    slots = weight_space_slots(spec)
    for slot, t in zip(slots, ws.tensors()):
        x = to_canonical(t, slot)
        assert x.shape[-1] == slot.fixed_size * channels
        assert x.dim() == 2 + len(slot.hidden)
        torch.testing.assert_close(from_canonical(x, slot, channels), t, atol=0, rtol=0)


def test_conditioning_vector_is_required_and_used():
    spec = NetworkSpec((2, 4, 4, 1))
    layer = DWSLayer(spec, 1, 2, cond_dim=3)
    ws = WeightSpace.randn(spec, 2)
    with pytest.raises(ValueError, match="conditioning vector"):
        layer(ws)
    a = layer(ws, torch.zeros(2, 3))
    b = layer(ws, torch.ones(2, 3))
    assert not torch.allclose(a.flatten(), b.flatten())
