"""SIREN import: minimal equivalents of each project's module, built here (the projects are not imported),
evaluated against the imported WeightSpace at random points."""

import math

import pytest
import torch
from helpers.siren_layouts import DWSNetsINR, FCBlock, LucidrainsSirenNet, Sine, SingleBVPNet, VsitzmannSiren
from safetensors.torch import save_file
from torch import nn

from dws_edit.inr import evaluate
from dws_edit.inr.imports import SIREN_FORMATS, import_siren
from dws_edit.weights import NetworkSpec, WeightSpace


def sequential(w0=30.0):
    return nn.Sequential(nn.Linear(3, 16), Sine(w0), nn.Linear(16, 16), Sine(w0), nn.Linear(16, 4))


def seeded(build, seed=0):
    """The model with SIREN initialisation (Sitzmann et al.; each project's own) of its nn.Linear weights:
    the first layer U(-1/n, 1/n), later layers U(-sqrt(6/n)/w0, sqrt(6/n)/w0); biases keep nn.Linear's."""
    torch.manual_seed(seed)
    model = build()
    first = next(model.parameters())
    with torch.no_grad():
        for lin in (m for m in model.modules() if isinstance(m, nn.Linear)):
            n = lin.in_features
            bound = 1 / n if lin.weight is first else math.sqrt(6 / n) / 30.0
            lin.weight.uniform_(-bound, bound)
    return model


def points(d: int, n: int = 512) -> torch.Tensor:
    return torch.rand(n, d, generator=torch.Generator().manual_seed(1)) * 2 - 1


CASES = {
    "siren-pytorch": (lambda: LucidrainsSirenNet(2, 32, 1, num_layers=3), {}),
    "siren-pytorch-old": (lambda: LucidrainsSirenNet(3, 16, 4, num_layers=2, old=True), {}),
    "siren-pytorch-nobias": (lambda: LucidrainsSirenNet(2, 16, 3, num_layers=2, use_bias=False), {}),
    "vsitzmann": (lambda: VsitzmannSiren(2, 32, 2, 1), {}),
    "vsitzmann-omegas": (
        lambda: VsitzmannSiren(3, 16, 1, 1, first_omega_0=60, hidden_omega_0=10.0),
        {"w0_first": 60, "w0_hidden": 10},
    ),  # fmt: skip
    "vsitzmann-fcblock": (lambda: FCBlock(2, 16, 2, 1), {}),
    "vsitzmann-bvp": (lambda: SingleBVPNet(3, 16, 1, 1), {}),
    "dwsnets": (lambda: DWSNetsINR(), {}),
    "sequential": (lambda: sequential(), {}),
    "sequential-w0": (lambda: sequential(w0=15.0), {"w0_first": 15, "w0_hidden": 15}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_import_is_exact(case):
    build, kwargs = CASES[case]
    model = seeded(build).eval()
    ws = import_siren(model.state_dict(), **kwargs)
    assert ws.batch_size == 1 and ws.dtype == torch.float32 and ws.spec.activation == "sine"
    x = points(ws.spec.layer_sizes[0])
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(evaluate(ws, x)[0], expected, atol=1e-5, rtol=0)
    # any w0 for the spec gives the same function: the per-layer w0s are folded into the weights
    ws30 = import_siren(model, w0=30.0, **kwargs)
    assert ws30.spec.w0 == 30.0
    torch.testing.assert_close(evaluate(ws30, x)[0], expected, atol=1e-5, rtol=0)


def test_auto_detection_and_format_defaults():
    assert import_siren(seeded(DWSNetsINR).state_dict()).spec == NetworkSpec((2, 32, 32, 1), "sine", 30.0, 0.5)
    lucid = import_siren(seeded(lambda: LucidrainsSirenNet(2, 32, 1, 3)).state_dict())
    assert lucid.spec == NetworkSpec((2, 32, 32, 32, 1), "sine", 1.0, 0.0)  # w0 = the hidden w0
    assert import_siren(seeded(sequential).state_dict(), output_offset=0.25).spec.output_offset == 0.25


def test_naive_import_ignoring_per_layer_w0_is_off():
    """Loading siren-pytorch weights as-is into a one-w0 spec changes the function: the fold matters."""
    model = seeded(lambda: LucidrainsSirenNet(2, 32, 1, num_layers=2)).eval()
    sd = model.state_dict()
    renamed = {k.replace("last_layer", "layers.2"): v for k, v in sd.items()}
    for w0 in (30.0, 1.0):  # the first layer's w0 or the others': neither is right for all layers
        naive = WeightSpace.from_state_dict(renamed, NetworkSpec((2, 32, 32, 1), "sine", w0, 0.0))
        x = points(2)
        with torch.no_grad():
            err = (evaluate(naive, x)[0] - model(x)).abs().max()
        assert err > 1e-2, f"naive import with w0={w0} is unexpectedly exact"


def test_files_and_checkpoint_wrappers(tmp_path):
    model = seeded(lambda: VsitzmannSiren(2, 16, 1, 1)).eval()
    ref = import_siren(model.state_dict())
    sd = model.state_dict()
    torch.save(sd, tmp_path / "siren.pth")
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3}, tmp_path / "run.ckpt")
    save_file({k: v.contiguous() for k, v in sd.items()}, tmp_path / "siren.safetensors")
    save_file({k: v.contiguous() for k, v in sd.items()}, tmp_path / "siren.bin")  # safetensors, found by content
    for name in ("siren.pth", "run.ckpt", "siren.safetensors", "siren.bin"):
        ws = import_siren(tmp_path / name)
        assert torch.equal(ws.flatten(), ref.flatten()), name


class NotWeights:
    def __init__(self):
        self.payload = "arbitrary code could run here"


def test_files_are_never_unpickled(tmp_path):
    torch.save({"net.0.linear.weight": torch.zeros(4, 2), "extra": NotWeights()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="never unpickled") as info:
        import_siren(tmp_path / "evil.pt")
    assert "\n" not in str(info.value) and "evil.pt" in str(info.value)
    (tmp_path / "junk.pt").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="junk.pt"):
        import_siren(tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="does not exist"):
        import_siren(tmp_path / "missing.pt")


def test_unknown_and_unsupported_layouts_are_refused_with_the_accepted_formats():
    with pytest.raises(ValueError) as info:
        import_siren({"encoder.conv.weight": torch.zeros(4, 3, 3, 3), "encoder.conv.bias": torch.zeros(4)})
    msg = str(info.value)
    assert "\n" not in msg and "unknown SIREN state-dict layout" in msg
    for name, fmt in SIREN_FORMATS.items():
        assert name in msg and fmt.keys in msg
    sine_out = seeded(lambda: VsitzmannSiren(2, 16, 1, 1, outermost_linear=False)).state_dict()
    with pytest.raises(ValueError, match="outermost_linear=False"):
        import_siren(sine_out)
    with_pe = {f"seq.{i + 1}.{n}": t for i, lin in enumerate([nn.Linear(8, 16), nn.Linear(16, 1)])
               for n, t in lin.state_dict().items()}  # fmt: skip
    with pytest.raises(ValueError, match="positional encoding"):
        import_siren(with_pe)
    with pytest.raises(ValueError, match="do not fit format 'siren-pytorch'"):
        import_siren(seeded(sequential).state_dict(), format="siren-pytorch")
    with pytest.raises(ValueError, match="is not one of"):
        import_siren(seeded(sequential).state_dict(), format="nerf")
    broken = seeded(sequential).state_dict()
    broken["2.weight"] = torch.zeros(16, 5)  # does not chain with the 16 outputs of layer 0
    with pytest.raises(ValueError, match="layer 1 has weight"):
        import_siren(broken)
    with pytest.raises(ValueError, match="w0_hidden"):
        import_siren(seeded(sequential).state_dict(), w0_hidden=0.0)
    nan = seeded(sequential).state_dict()
    nan["0.bias"][0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        import_siren(nan)
    with pytest.raises(ValueError, match="not floating-point"):
        import_siren({"0.weight": torch.zeros(4, 2, dtype=torch.long), "0.bias": torch.zeros(4)})
