"""``dws-edit inr export``: an INR file out to other SIREN code's state dicts, and one-line errors."""

import pytest
import torch
from helpers.cli import run

from dws_edit.inr import evaluate, image_spec, import_siren, init_siren, load_inr, save_inr
from dws_edit.weights import NetworkSpec, WeightSpace


@pytest.fixture
def inr_files(tmp_path):
    g = torch.Generator().manual_seed(0)
    ws = init_siren(image_spec(), 2, generator=g)
    ws = WeightSpace(ws.spec, ws.weights, tuple(torch.rand(b.shape, generator=g) * 0.2 for b in ws.biases))
    save_inr(tmp_path / "one.safetensors", ws[0])
    save_inr(tmp_path / "two.safetensors", ws)
    save_inr(tmp_path / "wide.safetensors", init_siren(NetworkSpec((2, 16, 8, 1)), 1))
    return tmp_path


def test_export_round_trips_through_import(inr_files, capsys):
    x = torch.rand(200, 2) * 2 - 1
    one = load_inr(inr_files / "one.safetensors")
    assert run("inr", "export", inr_files / "one.safetensors", inr_files / "one.pt", "--format", "vsitzmann") == 0
    assert "one.pt" in capsys.readouterr().out
    sd = torch.load(inr_files / "one.pt", weights_only=True)
    assert "net.0.linear.weight" in sd and "net.2.weight" in sd
    torch.testing.assert_close(evaluate(import_siren(sd, "vsitzmann"), x), evaluate(one, x), atol=2e-5, rtol=0)

    two = load_inr(inr_files / "two.safetensors")
    out = inr_files / "lucid.safetensors"
    args = ("--format", "siren-pytorch", "--w0-hidden", "2", "--output-offset", "0.5")
    assert run("inr", "export", inr_files / "two.safetensors", out, *args) == 0
    for i in range(2):
        back = import_siren(inr_files / f"lucid-{i}.safetensors", "siren-pytorch", w0_hidden=2.0, output_offset=0.5)
        torch.testing.assert_close(evaluate(back, x), evaluate(two[i], x), atol=2e-5, rtol=0)
    assert not out.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (("{dir}/missing.safetensors", "{dir}/o.pt", "--format", "vsitzmann"), "missing.safetensors does not exist"),
        (("{dir}/one.safetensors", "{dir}/o.pt", "--format", "keras"), "--format 'keras' is not one of"),
        (("{dir}/one.safetensors", "{dir}/o.npz", "--format", "vsitzmann"), "written as .pt, .pth, .safetensors"),
        (("{dir}/one.safetensors", "{dir}/one.safetensors", "--format", "sequential"), "is the input file"),
        (("{dir}/two-1.safetensors", "{dir}/two.safetensors", "--format", "sequential"), "is the input file"),
        (("{dir}/one.safetensors", "{dir}/o.pt", "--format", "dwsnets", "--w0-first", "0"), "--w0-first 0.0: expected"),
        (("{dir}/wide.safetensors", "{dir}/o.pt", "--format", "dwsnets"), "wide.safetensors: hidden widths (16, 8)"),
    ],
)
def test_mistakes_are_one_line_errors(inr_files, capsys, args, message):
    (inr_files / "two-1.safetensors").write_bytes((inr_files / "two.safetensors").read_bytes())
    before = {p.name: p.read_bytes() for p in inr_files.iterdir()}
    assert run("inr", "export", *(a.format(dir=inr_files) for a in args)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert {p.name: p.read_bytes() for p in inr_files.iterdir()} == before  # nothing written, nothing overwritten
