"""The CLI's single-INR workflow: inr fit -> edit -> inr render / info, and one-line errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from dws_edit.cli import main
from dws_edit.edits import mirror
from dws_edit.inr import evaluate, load_inr, read_inr


def run(*args):
    try:
        main([str(a) for a in args])
    except SystemExit as exit_:
        return exit_.code
    return 0


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    yy, xx = np.mgrid[0:40, 0:60]
    img = ((np.sin(xx / 7.0) * np.cos(yy / 5.0) + 1) * 127).astype(np.uint8)
    Image.fromarray(img).convert("RGB").save(tmp / "photo.png")
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
    assert Image.open(fitted / "y.png").size == (29 * 4, 29 * 4)  # 28 pixels and the grid gap, x4
    assert run("inr", "info", fitted / "y.safetensors") == 0
    assert '"domain": "image"' in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (("edit", "missing.safetensors", "--edit", "mirror", "--axis", "x"), "missing.safetensors does not exist"),
        (("edit", "{x}", "--edit", "sharpen"), "unknown edit 'sharpen'"),
        (("edit", "{x}", "--edit", "mirror", "--axis", "w"), "axis"),
        (("inr", "fit", "{x}"), "not an image file"),
        (("inr", "render", "{x}", "--out", "{dir}/y.jpg"), "accepted: a .png file"),
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
