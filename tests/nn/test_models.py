import pytest
import torch
from helpers.strategies import assert_ws_close, random_perms, random_ws, specs
from hypothesis import given
from hypothesis import strategies as st

from dws_edit import NetworkSpec, WeightSpace, WeightStats
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


@given(specs(), st.integers(0, 3), st.integers(0, 1000))
def test_edit_net_is_equivariant(spec, cond_dim, seed):
    torch.manual_seed(seed)
    model = DWSEditNet(spec, hidden=4, depth=2, cond_dim=cond_dim, init_scale=0.5).double().eval()
    ws = random_ws(spec, 2, 1, seed)
    cond = torch.randn(2, cond_dim, dtype=torch.float64) if cond_dim else None
    perms = random_perms(ws, seed + 1)
    assert_ws_close(model(ws.permute(perms), cond), model(ws, cond).permute(perms))


def test_edit_net_starts_near_identity_and_uses_stats():
    spec = NetworkSpec((2, 8, 8, 1))
    ws = random_ws(spec, 4, 1, 0) * 0.1
    model = DWSEditNet(spec, hidden=8, depth=2, init_scale=1e-3).double()
    delta = (model(ws) - ws).flatten().abs().max()
    assert 0 < delta < 1e-2
    model.set_stats(WeightStats.of(ws))
    perms = random_perms(ws, 1)
    assert_ws_close(model(ws.permute(perms)), model(ws).permute(perms))
    with pytest.raises(ValueError, match="needs edit parameters"):
        DWSEditNet(spec, cond_dim=2)(ws.to(torch.float32))


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


def test_mlp_edit_baseline_shapes():
    spec = NetworkSpec((2, 8, 8, 1))
    ws = WeightSpace.randn(spec, 3)
    out = FlatMLPEditNet(spec, hidden=32, cond_dim=2)(ws, torch.zeros(3, 2))
    assert out.spec == spec and out.batch_size == 3
