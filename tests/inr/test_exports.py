"""SIREN export: every layout import_siren reads is written; the dicts read back exactly and load (strict=True) into
minimal equivalents of each project's module (tests/helpers/siren_layouts.py) computing the INR's function."""

import pytest
import torch
from helpers.siren_layouts import DWSNetsINR, LucidrainsSirenNet, SingleBVPNet, VsitzmannSiren, sine_sequential

from dws_edit import export_siren
from dws_edit.inr import evaluate, import_siren, init_siren, save_siren
from dws_edit.inr.exports import export_paths
from dws_edit.inr.imports import SIREN_FORMATS
from dws_edit.weights import NetworkSpec, WeightSpace

SPECS = {  # image, SDF and field SIRENs of depth 2..4, w0 15 and 30, with and without an output offset
    "image": NetworkSpec((2, 32, 32, 1), "sine", 30.0, 0.5),
    "image-deep": NetworkSpec((2, 16, 16, 16, 3), "sine", 30.0, 0.5),
    "sdf": NetworkSpec((3, 24, 24, 1), "sine", 15.0, 0.0),
    "sdf-32": NetworkSpec((3, 32, 32, 1), "sine", 15.0, -0.2),
    "field": NetworkSpec((3, 30, 4), "sine", 15.0, 0.1),
}


def random_inrs(spec: NetworkSpec, batch: int = 3, seed: int = 0) -> WeightSpace:
    """SIREN-initialised weights with nonzero biases (so that the bias scaling and offset fold are exercised)."""
    g = torch.Generator().manual_seed(seed)
    ws = init_siren(spec, batch, generator=g)
    biases = [(torch.rand(b.shape, generator=g) * 2 - 1) * 0.3 for b in ws.biases]
    return WeightSpace(spec, ws.weights, tuple(biases))


def points(d: int, n: int = 256) -> torch.Tensor:
    return torch.rand(n, d, generator=torch.Generator().manual_seed(1)) * 2 - 1


def expressible(spec: NetworkSpec, fmt: str) -> bool:
    hidden = spec.hidden_sizes
    if fmt == "sequential":
        return True
    return len(set(hidden)) == 1 and (fmt != "dwsnets" or hidden[0] % spec.layer_sizes[0] == 0)


@pytest.mark.parametrize("fmt", list(SIREN_FORMATS))
@pytest.mark.parametrize("name", list(SPECS))
def test_export_then_import_is_the_same_function(name, fmt):
    spec = SPECS[name]
    ws = random_inrs(spec)
    if not expressible(spec, fmt):
        with pytest.raises(ValueError, match="format 'sequential'") as info:
            export_siren(ws, fmt)
        assert "\n" not in str(info.value)
        return
    dicts = export_siren(ws, fmt)
    assert len(dicts) == ws.batch_size
    x = points(spec.layer_sizes[0])
    for i, sd in enumerate(dicts):
        assert all(t.dtype == torch.float32 and t.device.type == "cpu" for t in sd.values())
        back = import_siren(sd, format=fmt)
        torch.testing.assert_close(evaluate(back, x), evaluate(ws[i], x), atol=2e-5, rtol=0)
        assert import_siren(sd).spec.layer_sizes == spec.layer_sizes  # auto-detection finds the layout
        same = import_siren(sd, format=fmt, w0=spec.w0)  # the weights themselves; the offset moved to the last bias
        moved = same.spec.output_offset - spec.output_offset
        torch.testing.assert_close(same.biases[-1] + moved, ws[i].biases[-1], atol=1e-6, rtol=0)
        for a, b in zip((*same.weights, *same.biases[:-1]), (*ws[i].weights, *ws[i].biases[:-1])):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_w0_and_offset_overrides_round_trip():
    ws = random_inrs(SPECS["image"])
    kw = {"w0_first": 60.0, "w0_hidden": 10.0, "output_offset": 0.25}
    x = points(2)
    for fmt in SIREN_FORMATS:
        back = import_siren(export_siren(ws, fmt, **kw)[1], format=fmt, **kw)
        torch.testing.assert_close(evaluate(back, x), evaluate(ws[1], x), atol=2e-5, rtol=0)


def module_for(fmt: str, sizes: tuple[int, ...], w0: dict):
    """The target project's module for a SIREN of layer sizes (d0, h, ..., h, dL), built with the w0s ``w0``."""
    d0, h, dL, L = sizes[0], sizes[1], sizes[-1], len(sizes) - 1
    if fmt == "siren-pytorch":
        return LucidrainsSirenNet(d0, h, dL, num_layers=L - 1, w0=w0.get("w0_hidden", 1.0),
                                  w0_initial=w0.get("w0_first", 30.0))  # fmt: skip
    if fmt == "vsitzmann":
        return VsitzmannSiren(d0, h, L - 2, dL, first_omega_0=w0.get("w0_first", 30.0),
                              hidden_omega_0=w0.get("w0_hidden", 30.0))  # fmt: skip
    if fmt == "vsitzmann-fcblock":
        return SingleBVPNet(d0, h, L - 2, dL)
    if fmt == "dwsnets":
        return DWSNetsINR(in_dim=d0, n_layers=L, up_scale=h // d0, out_channels=dL)
    assert w0.get("w0_first", 30.0) == w0.get("w0_hidden", 30.0)
    return sine_sequential(sizes, w0=w0.get("w0_first", 30.0))


LOAD_CASES = [(fmt, name, {}) for fmt in SIREN_FORMATS for name in ("image", "image-deep", "sdf", "field")]
LOAD_CASES += [
    ("siren-pytorch", "sdf", {"w0_first": 20.0, "w0_hidden": 2.0}),
    ("vsitzmann", "image", {"w0_first": 60.0, "w0_hidden": 10.0}),
    ("sequential", "sdf", {"w0_first": 15.0, "w0_hidden": 15.0}),
]


@pytest.mark.parametrize("fmt, name, w0", LOAD_CASES, ids=[f"{f}-{n}{'-w0' * bool(w)}" for f, n, w in LOAD_CASES])
def test_exported_dict_loads_strictly_into_the_layouts_module(fmt, name, w0):
    spec = SPECS[name]
    if not expressible(spec, fmt):
        pytest.skip(f"{fmt} cannot build {spec.layer_sizes}")
    ws = random_inrs(spec)
    x = points(spec.layer_sizes[0])
    for i, sd in enumerate(export_siren(ws, fmt, **w0)):
        model = module_for(fmt, spec.layer_sizes, w0).eval()
        model.load_state_dict(sd, strict=True)
        with torch.no_grad():
            torch.testing.assert_close(model(x), evaluate(ws[i], x)[0], atol=2e-5, rtol=0)


def test_the_exported_weights_are_in_the_target_units():
    """siren-pytorch's hidden layers use w0 = 1: their weights carry the factor 30 of dws-edit's w0; DWSNets adds
    the image spec's +0.5 itself, so the last bias is unchanged."""
    ws = random_inrs(SPECS["image"], batch=1)
    sd = export_siren(ws, "siren-pytorch")[0]
    torch.testing.assert_close(sd["layers.0.weight"], ws.weights[0][0, 0])  # 30 / 30
    torch.testing.assert_close(sd["layers.1.weight"], 30 * ws.weights[1][0, 0])  # 30 / 1
    torch.testing.assert_close(sd["last_layer.bias"], ws.biases[2][0, 0] + 0.5)  # the offset, folded
    dws = export_siren(ws, "dwsnets")[0]
    torch.testing.assert_close(dws["seq.2.bias"], ws.biases[2][0, 0])
    assert list(export_siren(ws, "sequential")[0]) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]


def test_files_one_per_inr_read_back_without_unpickling(tmp_path):
    ws = random_inrs(SPECS["sdf"], batch=3)
    x = points(3)
    [single] = save_siren(tmp_path / "one.pt", ws[0], "vsitzmann")
    assert single == tmp_path / "one.pt"
    sd = torch.load(single, weights_only=True)
    assert set(sd) == set(export_siren(ws[0], "vsitzmann")[0])
    torch.testing.assert_close(evaluate(import_siren(single), x), evaluate(ws[0], x), atol=2e-5, rtol=0)
    paths = save_siren(tmp_path / "zoo.safetensors", ws, "siren-pytorch", w0_hidden=3.0)
    assert [p.name for p in paths] == ["zoo-0.safetensors", "zoo-1.safetensors", "zoo-2.safetensors"]
    for i, p in enumerate(paths):
        back = import_siren(p, format="siren-pytorch", w0_hidden=3.0)
        torch.testing.assert_close(evaluate(back, x), evaluate(ws[i], x), atol=2e-5, rtol=0)
    from dws_edit import io

    _, meta = io.read_file(paths[0])
    assert meta == {"siren_format": "siren-pytorch", "w0_first": "30.0", "w0_hidden": "3.0", "output_offset": "0.0"}
    assert sorted(f.name for f in tmp_path.iterdir()) == sorted(["one.pt", *(p.name for p in paths)])  # no temp files
    assert [p.name for p in export_paths(tmp_path / "a.pth", 11)][-2:] == ["a-09.pth", "a-10.pth"]


def test_what_a_layout_cannot_hold_is_refused_in_one_line(tmp_path):
    ws = random_inrs(SPECS["image"], batch=2)
    cases = [
        (lambda: export_siren(ws, "nerf"), "is not one of"),
        (lambda: export_siren(WeightSpace.cat([ws, ws], dim=1), "vsitzmann"), "C = 1"),
        (lambda: export_siren(ws.with_spec(NetworkSpec((2, 32, 32, 1), "relu")), "sequential"), "accepted: 'sine'"),
        (lambda: export_siren(random_inrs(NetworkSpec((2, 3))), "sequential"), "no hidden layer"),
        (lambda: export_siren(random_inrs(NetworkSpec((2, 16, 8, 1))), "vsitzmann"), "one width"),
        (lambda: export_siren(random_inrs(NetworkSpec((3, 32, 1))), "dwsnets"), "not a multiple of"),
        (lambda: export_siren(ws, "vsitzmann", w0_first=0.0), "w0_first"),
        (lambda: export_siren(ws, "vsitzmann", output_offset=float("inf")), "output_offset"),
        (lambda: export_siren(ws.map(lambda t: t * float("nan")), "vsitzmann"), "NaN"),
        (lambda: save_siren(tmp_path / "x.npz", ws, "vsitzmann"), "written as .pt, .pth, .safetensors"),
        (lambda: save_siren(tmp_path / "x.pt", ws[:0], "vsitzmann"), "no INRs"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message) as info:
            call()
        assert "\n" not in str(info.value), message
    # a non-uniform SIREN still leaves as an nn.Sequential
    mixed = random_inrs(NetworkSpec((2, 16, 8, 1), "sine", 30.0, 0.5))
    model = sine_sequential((2, 16, 8, 1)).eval()
    model.load_state_dict(export_siren(mixed, "sequential")[0], strict=True)
    with torch.no_grad():
        torch.testing.assert_close(model(points(2)), evaluate(mixed[0], points(2))[0], atol=2e-5, rtol=0)
    assert not list(tmp_path.iterdir())
