import pytest
import torch
from helpers.strategies import assert_ws_close, random_perms, random_ws, specs
from hypothesis import given
from hypothesis import strategies as st

from dws_edit import NetworkSpec, WeightSpace, WeightStats
from dws_edit.inr import canonical_phases, evaluate
from dws_edit.nn import (
    AlignedMLPEncoder,
    DWSBlocks,
    DWSClassifier,
    DWSEditNet,
    DWSEncoder,
    FlatMLPEditNet,
    FlatMLPEncoder,
    INR2VecEncoder,
    NeuronTransformerEncoder,
)


@given(specs(), st.integers(1, 4), st.booleans(), st.integers(0, 1000))
def test_blocks_are_equivariant(spec, channels, norm, seed):
    torch.manual_seed(seed)
    blocks = DWSBlocks(spec, (channels, 4, 3, 2), norm=norm, dropout=0.3).double().eval()
    ws = random_ws(spec, 2, channels, seed)
    perms = random_perms(ws, seed + 1)
    assert_ws_close(blocks(ws.permute(perms)), blocks(ws).permute(perms))


@given(specs(), st.booleans(), st.integers(0, 1000))
def test_encoder_and_classifier_are_invariant(spec, norm, seed):
    torch.manual_seed(seed)
    ws = random_ws(spec, 3, 1, seed)
    perms = random_perms(ws, seed + 1)
    for model in (DWSEncoder(spec, 8, hidden=4, depth=3, norm=norm), DWSClassifier(spec, 5, hidden=4, depth=2)):
        model = model.double().eval()
        torch.testing.assert_close(model(ws.permute(perms)), model(ws), atol=1e-6, rtol=0)


@given(specs(), st.integers(0, 3), st.booleans(), st.booleans(), st.integers(0, 1000))
def test_edit_net_is_equivariant(spec, cond_dim, film, skip, seed):
    torch.manual_seed(seed)
    model = DWSEditNet(spec, hidden=4, depth=2, cond_dim=cond_dim, init_scale=0.5, film=film, skip=skip)
    model = model.double().eval()
    with torch.no_grad():  # FiLM gates start at 1: make them depend on cond
        for p in model.parameters():
            if p.abs().max() == 0:
                p.normal_()
    ws = random_ws(spec, 2, 1, seed)
    cond = torch.randn(2, cond_dim, dtype=torch.float64) if cond_dim else None
    perms = random_perms(ws, seed + 1)
    assert_ws_close(model(ws.permute(perms), cond), model(ws, cond).permute(perms))


def test_film_gates_each_input_coordinate_by_the_condition():
    """FiLM scales features multiplicatively: with a zero additive path, one value of the condition can switch a
    column of W_0 on while the other switches it off, which no invariant bias can do."""
    spec = NetworkSpec((2, 5, 4, 1))
    model = DWSEditNet(spec, hidden=3, depth=1, cond_dim=2, film=True, skip=True, init_scale=1.0).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.scale.fill_(1.0)
        skip = model.skip
        # the full-size term of W_0: its inputs are the tensors with hidden axis 1 (W_0 first, d0 features)
        skip.mix[skip._key(skip.slots[0], (1,))][0, 0] = -2.0  # delta W_0[:, 0] = -2 W_0[:, 0] ...
        skip.gamma["W0"].weight[0, 1] = -1.0  # ... gated off (1 - 1 = 0) when cond = (0, 1)
    ws = random_ws(spec, 2, 1, 0)
    cond = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    out = model(ws, cond)
    torch.testing.assert_close(out.weights[0][0, 0, :, 0], -ws.weights[0][0, 0, :, 0])  # mirrored in x
    torch.testing.assert_close(out.weights[0][1], ws.weights[0][1])  # unchanged
    torch.testing.assert_close(out.weights[1], ws.weights[1])


def test_edit_net_starts_near_identity_and_uses_stats():
    spec = NetworkSpec((2, 8, 8, 1))
    ws = random_ws(spec, 4, 1, 0) * 0.1
    model = DWSEditNet(spec, hidden=8, depth=2, init_scale=1e-3).double()
    delta = (model(ws) - canonical_phases(ws)).flatten().abs().max()  # the input's canonical form: the same function
    assert 0 < delta < 1e-2
    model.set_stats(WeightStats.of(ws))
    perms = random_perms(ws, 1)
    assert_ws_close(model(ws.permute(perms)), model(ws).permute(perms))
    with pytest.raises(ValueError, match="needs edit parameters"):
        DWSEditNet(spec, cond_dim=2)(ws.to(torch.float32))


def _block_perms(perms: list[torch.Tensor], widths: tuple[int, ...], k: int) -> list[torch.Tensor]:
    """The permutation of a k-times wider network that permutes each of its k blocks by ``perms``."""
    return [torch.cat([p + j * d for j in range(k)], dim=-1) for p, d in zip(perms, widths)]


@pytest.mark.parametrize("model_cls", [DWSEditNet, FlatMLPEditNet])
def test_edit_net_with_k_outputs_starts_as_the_identity_function(model_cls):
    spec = NetworkSpec((2, 8, 6, 1), w0=3.0, output_offset=0.5)
    ws = random_ws(spec, 3, 1, 0) * 0.3
    model = model_cls(spec, hidden=8, depth=2, outputs=3, init_scale=0.0).double()
    edited = model(ws)
    assert edited.spec.layer_sizes == (2, 24, 18, 1)
    coords = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    torch.testing.assert_close(evaluate(edited, coords), evaluate(ws, coords), atol=1e-12, rtol=0)


@given(specs(max_layers=4, max_width=6), st.integers(0, 1000))
def test_edit_net_with_k_outputs_is_equivariant(spec, seed):
    torch.manual_seed(seed)
    model = DWSEditNet(spec, hidden=4, depth=2, outputs=2, init_scale=0.5).double().eval()
    ws = random_ws(spec, 2, 1, seed)
    perms = random_perms(ws, seed + 1)
    wide = _block_perms(perms, spec.hidden_sizes, 2)
    assert_ws_close(model(ws.permute(perms)), model(ws).permute(wide))


@pytest.mark.parametrize("model_cls", [DWSEditNet, FlatMLPEditNet])
def test_keep_model_is_the_source_plus_a_correction_that_starts_near_zero(model_cls):
    spec = NetworkSpec((2, 8, 6, 1), w0=3.0, output_offset=0.5)
    ws = random_ws(spec, 3, 1, 0) * 0.3
    coords = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    torch.manual_seed(0)
    model = model_cls(spec, hidden=8, depth=2, outputs=2, init_scale=0.0, keep=True).double()
    edited = model(ws)
    assert edited.spec.layer_sizes == (2, 24, 18, 1)  # the source's block and two corrections
    torch.testing.assert_close(evaluate(edited, coords), evaluate(ws, coords), atol=1e-12, rtol=0)
    with torch.no_grad():
        model.scale.fill_(0.3)
    edited = model(ws)
    # the first block is the source, bit for bit, whatever the residual
    for a, b in zip(edited.tensors()[:-2], ws.tensors()[:-2]):
        assert torch.equal(a[..., : b.shape[-2], : b.shape[-1]] if a.dim() == 4 else a[..., : b.shape[-1]], b)
    torch.testing.assert_close(edited.weights[-1][..., :6], ws.weights[-1])
    correction = evaluate(edited, coords) - evaluate(ws, coords)
    assert correction.abs().max() > 1e-3  # the corrections count once the scales leave zero
    with torch.no_grad():  # the corrections' last layers alone: their zero is the function's zero
        model.scale[-2:].zero_()
    moved_hidden_only = model(ws)
    torch.testing.assert_close(evaluate(moved_hidden_only, coords), evaluate(ws, coords), atol=1e-12, rtol=0)


@given(specs(max_layers=4, max_width=6), st.integers(0, 1000))
def test_keep_model_is_equivariant(spec, seed):
    torch.manual_seed(seed)
    model = DWSEditNet(spec, hidden=4, depth=2, outputs=2, init_scale=0.5, keep=True).double().eval()
    ws = random_ws(spec, 2, 1, seed)
    perms = random_perms(ws, seed + 1)
    assert_ws_close(model(ws.permute(perms)), model(ws).permute(_block_perms(perms, spec.hidden_sizes, 3)))


@pytest.mark.parametrize(
    "make",
    [
        lambda spec: DWSEditNet(spec, hidden=8, depth=2, init_scale=0.1),
        lambda spec: FlatMLPEditNet(spec, hidden=16, depth=2, init_scale=0.1),
        lambda spec: DWSClassifier(spec, 4, hidden=8, depth=2),
    ],
)
def test_statistics_are_saved_with_the_model_and_change_its_output(make):
    spec = NetworkSpec((2, 8, 8, 1))
    ws = WeightSpace.randn(spec, 5, generator=torch.Generator().manual_seed(0)) * 0.2 + 0.05
    stats = WeightStats.of(ws * 3.0 + 1.0)  # far from the identity statistics
    torch.manual_seed(0)
    model = make(spec).eval()
    before = _flat_output(model(ws))
    model.set_stats(stats)
    after = _flat_output(model(ws))
    assert not torch.allclose(before, after, atol=1e-4), "set_stats did not change the model's output"
    state = model.state_dict()
    assert "normalizer.mean" in state and "normalizer.std" in state
    torch.manual_seed(1)  # other random initial weights: everything must come from the state dict
    fresh = make(spec).eval()
    fresh.load_state_dict(state)
    torch.testing.assert_close(_flat_output(fresh(ws)), after)
    moved = fresh.to(torch.float64)  # buffers move with .to(): statistics stay in force
    assert moved.normalizer.std.dtype == torch.float64
    torch.testing.assert_close(_flat_output(moved(ws.to(torch.float64))).float(), after, atol=1e-5, rtol=1e-5)


def _flat_output(out) -> torch.Tensor:
    return out.flatten() if isinstance(out, WeightSpace) else out


def test_dropout_is_off_in_eval_mode():
    spec = NetworkSpec((2, 8, 8, 1))
    model = DWSClassifier(spec, 3, hidden=8, depth=3, dropout=0.5)
    ws = WeightSpace.randn(spec, 4)
    model.eval()
    torch.testing.assert_close(model(ws), model(ws))
    model.train()
    torch.manual_seed(0)
    a = model(ws)
    torch.manual_seed(1)
    assert not torch.allclose(a, model(ws))


def test_baselines_share_the_encoder_interface():
    spec = NetworkSpec((2, 8, 8, 1))
    ws = random_ws(spec, 5, 1, 0).to(torch.float32)
    encoders = [
        FlatMLPEncoder(spec, 7),
        FlatMLPEncoder(spec, 7, augment=True),
        AlignedMLPEncoder(spec, ws[0], embed_dim=7),
        NeuronTransformerEncoder(spec, 7),
        INR2VecEncoder(spec, 7),
        DWSEncoder(spec, 7),
    ]
    for enc in encoders:
        assert enc(ws).shape == (5, 7), type(enc).__name__
        assert enc.embed_dim == 7


def test_aligned_mlp_is_invariant_and_plain_mlp_is_not():
    spec = NetworkSpec((2, 8, 8, 1))
    ws = random_ws(spec, 4, 1, 0).to(torch.float32)
    perms = random_perms(ws, 1)
    aligned = AlignedMLPEncoder(spec, ws[0], embed_dim=5).eval()
    torch.testing.assert_close(aligned(ws.permute(perms)), aligned(ws), atol=1e-5, rtol=0)
    plain = FlatMLPEncoder(spec, 5).eval()
    assert not torch.allclose(plain(ws.permute(perms)), plain(ws), atol=1e-3)


def test_augmented_mlp_permutes_only_in_training():
    spec = NetworkSpec((2, 8, 8, 1))
    ws = random_ws(spec, 4, 1, 0).to(torch.float32)
    model = FlatMLPEncoder(spec, 5, augment=True)
    model.eval()
    torch.testing.assert_close(model(ws), model(ws))
    model.train()
    assert not torch.allclose(model(ws), model(ws))


def test_mlp_edit_baseline_edits_by_its_residual_conditioned_on_the_edit_parameters():
    """FlatMLPEditNet's edit is ``ws + scale * std * MLP(flat ws, cond)``: it depends on the edit's parameters, is
    the input exactly when the scales are zero, and needs the parameters it was built for."""
    spec = NetworkSpec((2, 8, 8, 1))
    ws = random_ws(spec, 3, 1, 0)
    torch.manual_seed(0)
    model = FlatMLPEditNet(spec, hidden=32, depth=2, cond_dim=2, init_scale=0.1).double().eval()
    cond = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], dtype=torch.float64)
    out = model(ws, cond)
    assert out.spec == spec and out.batch_size == 3
    source = canonical_phases(ws)  # what the model edits: the same functions
    moved = (out.flatten() - source.flatten()).abs().amax(dim=-1)
    assert (moved > 1e-4).all()  # every INR is edited ...
    swapped = model(ws, cond.flip(1))  # the parameters of INRs 0 and 1 swapped, INR 2's the same
    changed = (swapped.flatten() - out.flatten()).abs().amax(dim=-1)
    assert (changed[:2] > 1e-6).all() and changed[2] == 0  # ... as its own parameters say
    torch.testing.assert_close(model(ws[:1], cond[:1]).flatten(), out.flatten()[:1])  # one INR: its own edit
    with torch.no_grad():
        model.scale.zero_()
    assert_ws_close(model(ws, cond), source)
    with pytest.raises(ValueError, match="needs edit parameters of shape \\[3, 2\\]"):
        model(ws, torch.zeros(3, 1, dtype=torch.float64))


@given(specs(max_layers=4, max_width=6), st.integers(0, 2), st.integers(0, 1000))
def test_edit_net_with_probes_is_equivariant(spec, cond_dim, seed):
    torch.manual_seed(seed)
    model = DWSEditNet(spec, hidden=4, depth=2, cond_dim=cond_dim, outputs=2, probes=3, init_scale=0.5)
    model = model.double().eval()
    ws = random_ws(spec, 2, 1, seed)
    cond = torch.randn(2, cond_dim, dtype=torch.float64) if cond_dim else None
    perms = random_perms(ws, seed + 1)
    wide = _block_perms(perms, spec.hidden_sizes, 2)
    assert_ws_close(model(ws.permute(perms), cond), model(ws, cond).permute(wide))


def test_probe_features_feed_the_first_layer_and_are_gated_by_the_edit():
    """The probe grid covers [-1, 1]^d0; the probe path is live (zeroing its maps changes the residual) and its
    per-probe gates depend on the edit's parameters."""
    from dws_edit.nn.probes import probe_grid

    grid = probe_grid(2, 4)
    assert grid.shape == (16, 2) and grid.abs().max() < 1 and torch.unique(grid[:, 0]).numel() == 4
    spec = NetworkSpec((2, 5, 4, 1))
    torch.manual_seed(0)
    model = DWSEditNet(spec, hidden=4, depth=2, cond_dim=2, probes=4, init_scale=1.0).double().eval()
    ws = random_ws(spec, 1, 1, 0)
    cond = torch.tensor([[0.2, -0.5]], dtype=torch.float64)
    terms, values = model.probes(ws, cond)
    torch.testing.assert_close(values, evaluate(ws, grid.double()).reshape(1, -1))
    other, _ = model.probes(ws, cond + 1.0)
    assert max((a - b).abs().max().item() for a, b in zip(terms, other) if torch.is_tensor(a)) > 1e-6
    before = model(ws, cond)
    with torch.no_grad():
        for p in model.probes.project.parameters():
            p.zero_()
    assert (model(ws, cond) - before).flatten().abs().max() > 1e-6
    with pytest.raises(ValueError, match="at least one probe point"):
        probe_grid(2, 0)


@given(specs(max_layers=4, max_width=6), st.booleans(), st.integers(0, 1000))
def test_edit_net_with_the_loss_gradient_is_equivariant(spec, skip, seed):
    """(with ``skip``, also with probe features: the two inputs combine)"""
    torch.manual_seed(seed)
    probes = 2 if skip else 0
    model = DWSEditNet(spec, hidden=4, depth=2, cond_dim=1, outputs=2, gradient=True, skip=skip, probes=probes,
                       init_scale=0.5)  # fmt: skip
    model = model.double().eval()
    ws, grad = random_ws(spec, 2, 1, seed), random_ws(spec, 2, 1, seed + 7) * 1e-3
    cond = torch.randn(2, 1, dtype=torch.float64)
    perms = random_perms(ws, seed + 1)
    wide = _block_perms(perms, spec.hidden_sizes, 2)
    assert_ws_close(model(ws.permute(perms), cond, grad.permute(perms)), model(ws, cond, grad).permute(wide))


def _elementwise_gradient(ws: WeightSpace) -> WeightSpace:
    """A stand-in for the loss gradient that is a function of the INRs and equivariant (elementwise)."""
    return WeightSpace(ws.spec, tuple(torch.sin(3 * t) for t in ws.weights), tuple(torch.cos(t) for t in ws.biases))


@given(specs(max_layers=3, max_width=5), st.integers(0, 1000))
def test_edit_net_with_refinement_passes_is_equivariant_and_each_pass_counts(spec, seed):
    """passes=2: the second pass runs on the first's (2x wide) output with the gradient there; permuting the input
    permutes the wide output as with one pass, and the second pass changes the result."""
    torch.manual_seed(seed)
    model = DWSEditNet(spec, hidden=4, depth=2, cond_dim=1, outputs=2, gradient=True, passes=2, init_scale=0.5)
    model = model.double().eval()
    ws, cond = random_ws(spec, 2, 1, seed), torch.randn(2, 1, dtype=torch.float64)
    perms = random_perms(ws, seed + 1)
    wide = _block_perms(perms, spec.hidden_sizes, 2)
    out = model(ws, cond, _elementwise_gradient)
    assert out.spec.hidden_sizes == tuple(2 * h for h in spec.hidden_sizes)
    assert_ws_close(model(ws.permute(perms), cond, _elementwise_gradient), out.permute(wide))
    one_pass = model._one_pass(ws, cond, _elementwise_gradient(ws))
    assert (out - one_pass).flatten().abs().max() > 1e-6


def test_refinement_passes_need_the_gradient_as_a_function():
    spec = NetworkSpec((2, 6, 5, 1))
    with pytest.raises(ValueError, match="passes = 2: expected 1, or more with gradient=True"):
        DWSEditNet(spec, passes=2)
    model = DWSEditNet(spec, hidden=4, depth=2, gradient=True, passes=3).double().eval()
    assert len(model.refiners) == 2
    ws = random_ws(spec, 1, 1, 0)
    with pytest.raises(ValueError, match="grad= must be a function of the INRs"):
        model(ws, None, _elementwise_gradient(ws))


def test_edit_net_with_the_loss_gradient_uses_it_and_refuses_to_run_without():
    spec = NetworkSpec((2, 6, 5, 1))
    torch.manual_seed(0)
    model = DWSEditNet(spec, hidden=4, depth=2, gradient=True, init_scale=1.0).double().eval()
    ws, grad = random_ws(spec, 1, 1, 0), random_ws(spec, 1, 1, 1)
    assert (model(ws, None, grad) - model(ws, None, grad * -1.0)).flatten().abs().max() > 1e-6
    with pytest.raises(ValueError, match="gradient of the edit's loss"):
        model(ws)
