"""The CLI's single-INR workflow: inr fit -> edit -> inr render / info, and one-line errors."""

import numpy as np
import pytest
import torch
import trimesh
from helpers.cli import run
from PIL import Image

from dws_edit.edits import mirror
from dws_edit.inr import evaluate, load_inr, read_inr
from dws_edit.inr.domains import get_domain


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    yy, xx = np.mgrid[0:40, 0:60]
    img = ((np.sin(xx / 7.0) * np.cos(yy / 5.0) + 1) * 127).astype(np.uint8)
    Image.fromarray(img).convert("RGB").save(tmp / "photo.png")
    flat = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]])
    flat.export(tmp / "flat.obj")
    assert run("inr", "fit", tmp / "photo.png", "--out", tmp / "x.safetensors", "--max-steps", "300") == 0
    return tmp


def test_fit_edit_render_round_trip(fitted, capsys):
    x = fitted / "x.safetensors"
    ws, header = read_inr(x)
    assert ws.spec.layer_sizes == (2, 32, 32, 1) and header["edit_history"][0]["fit"].endswith("photo.png")
    assert run("edit", x, "--edit", "mirror", "--axis", "x", "--out", fitted / "y.safetensors") == 0
    y, header = read_inr(fitted / "y.safetensors")
    coords = torch.rand(100, 2) * 2 - 1
    torch.testing.assert_close(evaluate(y, coords), evaluate(mirror(ws, "x"), coords))
    assert [h.get("edit") for h in header["edit_history"]][-1] == "mirror"
    assert run("inr", "render", fitted / "y.safetensors", "--out", fitted / "y.png") == 0
    assert Image.open(fitted / "y.png").size == (28 * 4, 28 * 4)  # 28 pixels, x4
    assert run("inr", "info", fitted / "y.safetensors") == 0
    assert '"domain": "image"' in capsys.readouterr().out
    out = fitted / "z.safetensors"
    assert run("edit", x, "--edit", "symmetrize", "--axis", "y", "--refine", "40", "--out", out) == 0
    z, header = read_inr(out)
    step = header["edit_history"][-1]
    assert step["guard"]["outcome"][0] in ("pass", "refined", "better, not clearly", "no edit")
    assert {k: v for k, v in step.items() if k != "guard"} == {"edit": "symmetrize", "exact": False, "refine": 40,
                                                              "axis": "y"}  # fmt: skip
    asym = lambda w: (evaluate(w, coords) - evaluate(w, coords * torch.tensor([1.0, -1.0]))).abs().mean()  # noqa: E731
    assert asym(z) < 0.05 < asym(ws)


@pytest.mark.parametrize(
    "args, message",
    [
        (("edit", "missing.safetensors", "--edit", "mirror", "--axis", "x"), "missing.safetensors does not exist"),
        (("edit", "{x}", "--edit", "sharpen"), "unknown edit 'sharpen'"),
        (("edit", "{x}", "--edit", "mirror", "--axis", "w"), "axis"),
        (("inr", "fit", "{x}"), "neither an image nor a mesh file"),
        (("inr", "render", "{x}", "--out", "{dir}/y.jpg"), "image INRs render to .png"),
        (("inr", "render", "{x}", "--out", "{dir}/y.glb"), "image INRs render to .png"),
        (("inr", "fit", "{dir}/flat.obj"), "flat.obj: the mesh (2 faces) encloses no volume"),
        (("inr", "fit", "{dir}/photo.png", "--out", "{dir}/photo.png"), "accepted: a path ending in .safetensors"),
        (("edit", "{x}", "--edit", "mirror", "--axis", "x", "--out", "{x}"), "is the input file"),
        (("edit", "{x}", "--edit", "explode"), "exact mirror, translate"),
        (("edit", "{x}", "--edit", "mirror", "--axis", "x", "--refine", "10"), "refine applies to learned edits"),
        (("edit", "{x}", "--edit", "mirror", "--axis", "x", "--model", "image-smooth"), "model applies to learned"),
        (("edit", "{x}", "--edit", "mirror", "--axis", "x", "--refit"), "refit applies to learned edits"),
        (("edit", "{x}", "--edit", "smooth", "--sigma", "0.05", "--refit"), "refit: image INRs are not accepted"),
        (("edit", "{x}", "--edit", "rotate", "--angle", "0.5", "--center", "0.1"), "center of shape (1, 1)"),
        (("edit", "{x}", "--edit", "scale", "--factor", "nan"), "factor holds NaN or Inf"),
        (("edit", "{x}", "--edit", "translate", "--offset", "nan", "0"), "offset holds NaN or Inf"),
        (("edit", "{x}", "--edit", "affine"), "use the Python API"),
        (("inr", "render", "{x}", "--out", "{dir}/y.png", "--size", "0"), "--size 0: expected an integer in [1,"),
        (("inr", "render", "{x}", "--out", "{dir}/y.png", "--size", "100000"), "--size 100000"),
        (("inr", "render", "{x}", "--out", "{dir}/y.png", "--resolution", "1"), "--resolution 1"),
        (("inr", "fit", "{dir}/photo.png", "--out", "{dir}/n.safetensors", "--max-steps", "-1"), "--max-steps -1"),
        (("inr", "fit", "{dir}/flat.obj", "--out", "{dir}/n.safetensors", "--points", "0"), "--points 0"),
        (("inr", "import", "{x}", "--out", "{dir}/n.safetensors"), "already a dws-edit INR file"),
        (("demo", "--count", "0", "--out", "{dir}/demo"), "--count 0: expected an integer in [1, 256]"),
    ],
)
def test_user_mistakes_get_one_line_and_exit_2(fitted, capsys, args, message):
    args = [a.format(x=fitted / "x.safetensors", dir=fitted) for a in args]
    before = sorted(p.name for p in fitted.iterdir())
    assert run(*args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in fitted.iterdir()) == before  # nothing written
    assert load_inr(fitted / "x.safetensors").batch_size == 1


def test_mesh_fit_render_round_trip(tmp_path, capsys):
    mesh = trimesh.creation.annulus(r_min=0.3, r_max=0.6, height=0.5)
    mesh.apply_scale(25.0)  # millimetres, far from the origin
    mesh.apply_translation((400.0, 0.0, -90.0))
    mesh.export(tmp_path / "ring.stl")
    x = tmp_path / "ring.safetensors"
    assert run("inr", "fit", tmp_path / "ring.stl", "--out", x, "--max-steps", "300", "--points", "8192") == 0
    ws, header = read_inr(x)
    assert ws.spec.layer_sizes == (3, 32, 32, 1) and header["edit_history"][0]["chamfer_64"] < 0.05
    out = " ".join(capsys.readouterr().out.split())
    assert "Chamfer distance" in out
    assert "fitting an SDF INR (width 32) to ring.stl (up to 300 steps): 1/300 (0%)" in out  # progress as it fits
    for out in ("ring.glb", "ring.obj", "ring.png"):
        assert run("inr", "render", x, "--out", tmp_path / out, "--resolution", "48") == 0
    back = trimesh.load(tmp_path / "ring.glb", force="mesh")
    assert back.is_watertight and abs(back.bounds).max() < 0.9  # normalized into [-0.8, 0.8]^3, plus fit error
    assert len(trimesh.load(tmp_path / "ring.obj", force="mesh").faces) == len(back.faces)
    assert Image.open(tmp_path / "ring.png").size == (3 * (112 + 1) - 1, 112)
    assert run("inr", "render", x, "--out", tmp_path / "other.png", "--index", "3") == 2
    assert "holds INRs 0..0" in capsys.readouterr().err
    y = tmp_path / "smooth.safetensors"  # refitted first (as for an INR fitted by other code), then edited
    assert run("edit", x, "--edit", "smooth", "--sigma", "0.05", "--refit", "--out", y) == 0
    step = read_inr(y)[1]["edit_history"][-1]
    assert step["guard"]["loss_out"][0] <= step["guard"]["loss_no_edit"][0]  # never worse than no edit
    start = get_domain("sdf").start_steps
    assert {k: v for k, v in step.items() if k != "guard"} == {"edit": "smooth", "exact": False, "refit": True,
                                                              "sigma": 0.05, "refine": start}  # fmt: skip
    assert (
        step["guard"]["asked_refine"] == get_domain("sdf").start_steps
    )  # an SDF's pass is a start: the history names the steps that ran


def test_models_list_gives_each_shipped_model_its_quality_in_words(capsys, monkeypatch):
    from dws_edit.checkpoints import available_models
    from dws_edit.console import console

    monkeypatch.setattr(console, "width", 400)  # one table row per line
    assert run("models", "list") == 0
    out = capsys.readouterr().out
    assert "{" not in out  # no raw card dicts
    models_table = out.split("shipped models (")[1]
    for name, card in available_models().items():
        line = next(ln for ln in models_table.splitlines() if f" {name} " in ln)
        q = card.get("quality") or {}
        expected = f"IoU {q['iou']:.3f}" if "iou" in q else f"{100 * q.get('removed', 0):.0f}% of the error removed"
        expected = expected if q else "not measured"
        assert expected in line, (name, line)
        assert ("weights + loss gradient" in line) == bool(card.get("model_kwargs", {}).get("gradient")), line
