"""What a new user meets first: --version, --help texts that say what the commands do and which way the axes
point, sizes refused before any work, Ctrl-C in one line."""

import importlib.metadata
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.cli import run
from PIL import Image

import dws_edit
from dws_edit.cli import COMMANDS, _first_line

ROOT = Path(__file__).resolve().parents[2]


def help_text(capsys, monkeypatch, *args) -> str:
    """The --help of a command as one line of words (the help's box drawing and line wrapping taken out)."""
    monkeypatch.setenv("COLUMNS", "200")
    assert run(*args, "--help") == 0
    out = capsys.readouterr().out
    return " ".join(out.translate(str.maketrans("│╭╮╰╯─", "      ")).split())


def test_version_prints_the_installed_version(capsys):
    assert run("--version") == 0
    assert capsys.readouterr().out == f"dws-edit {dws_edit.__version__}\n"
    assert dws_edit.__version__ == importlib.metadata.version("dws-edit")  # pyproject.toml and the package agree


def test_ctrl_c_prints_one_line_and_exits_130(monkeypatch, capsys):
    from dws_edit.cli.inr import InrInfo

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(InrInfo, "run", interrupted)
    assert run("inr", "info", "any.safetensors") == 130
    captured = capsys.readouterr()
    assert captured.err == "dws-edit: interrupted\n" and captured.out == ""


def test_ctrl_c_during_a_fit_leaves_no_file_and_no_traceback(tmp_path):
    Image.fromarray(np.tile(np.arange(32, dtype=np.uint8) * 8, (32, 1))).save(tmp_path / "ramp.png")
    out = tmp_path / "never.safetensors"
    cmd = [sys.executable, "-m", "dws_edit.cli", "inr", "fit", str(tmp_path / "ramp.png"), "--out", str(out),
           "--max-steps", "1000000", "--target-psnr", "500"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # as a terminal starts it: SIGINT not ignored (a suite run from a background job inherits SIG_IGN, and a Python
    # started with SIGINT ignored keeps ignoring it)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        first = proc.stdout.readline()  # the progress line of the first step: the fit is running
        assert "fitting an image INR" in first, first
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and err == "dws-edit: interrupted\n", err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ramp.png"]  # no output, no temporary file


@pytest.mark.parametrize("size", [0, 2049, 100000])
def test_fit_sizes_past_the_limit_are_refused_in_one_line_before_any_work(tmp_path, capsys, monkeypatch, size):
    from dws_edit.cli.inr import MAX_SIZE

    Image.new("L", (10, 10), 128).save(tmp_path / "img.png")

    def no_work(*args, **kwargs):
        raise AssertionError("the image was read before --size was checked")

    monkeypatch.setattr("dws_edit.data.images.image_to_tensor", no_work)
    assert run("inr", "fit", tmp_path / "img.png", "--out", tmp_path / "x.safetensors", "--size", size) == 2
    err = capsys.readouterr().err
    assert err == f"dws-edit: error: --size {size}: expected an integer in [1, {MAX_SIZE}] (pixels per side)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.png"]
    assert MAX_SIZE == 2048 and f"SIZE in [1, {MAX_SIZE}]" in help_text(capsys, monkeypatch, "inr", "fit")


def test_edit_help_says_how_learned_edits_run(capsys, monkeypatch):
    text = help_text(capsys, monkeypatch, "edit")
    assert "one-pass" not in text
    assert "a forward pass of a shipped model (some models take a few passes; see the card)" in text


def test_help_says_which_way_the_axes_point(capsys, monkeypatch):
    text = help_text(capsys, monkeypatch, "edit")
    assert "images: x runs left to right, y down the rows (top to bottom); 3-D: y up" in text
    assert "so -1 -1 0 0 is the top-left quarter" in text
    assert "a positive angle turns +x toward +y, which is clockwise on screen" in text
    assert "y up, the whole cube [-1, 1]^3 in view" in help_text(capsys, monkeypatch, "inr", "render")


def test_the_axes_are_as_the_help_says(tmp_path):
    """An image INR's (-1, -1) is the top-left pixel, and rotate with a positive angle turns it clockwise on screen:
    a block in the top-left quarter moves to the top-right quarter."""
    from dws_edit.inr import evaluate, read_inr

    a = np.zeros((28, 28), dtype=np.uint8)
    a[4:10, 4:10] = 255  # a white block in the top-left quarter
    Image.fromarray(a).save(tmp_path / "block.png")
    x, y = tmp_path / "x.safetensors", tmp_path / "y.safetensors"
    assert run("inr", "fit", tmp_path / "block.png", "--out", x, "--max-steps", "300") == 0
    assert run("edit", x, "--edit", "rotate", "--angle", math.pi / 2, "--out", y) == 0
    quarters = torch.tensor([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])  # TL, TR, BR, BL on screen
    source = evaluate(read_inr(x)[0], quarters)[0, :, 0]
    rotated = evaluate(read_inr(y)[0], quarters)[0, :, 0]
    assert source.argmax() == 0 and source[0] > 0.8 and source[1:].max() < 0.2  # box -1 -1 0 0: the top-left
    assert rotated.argmax() == 1 and rotated[1] > 0.8  # clockwise on screen: top-left to top-right


def _leaves(table: dict, prefix: str = "") -> dict[str, type]:
    """Every command's config class by its command line, groups and their subcommands alike."""
    import typing

    out = {}
    for name, cls in table.items():
        out[f"{prefix}{name}"] = cls
        hints = typing.get_type_hints(cls, include_extras=True) if hasattr(cls, "__dataclass_fields__") else {}
        if "command" in hints and cls.__name__.endswith("Group"):
            for option in typing.get_args(typing.get_args(hints["command"])[0]):
                sub, *meta = typing.get_args(option)
                names = [m.name for m in meta if getattr(m, "name", None)]
                if sub is not type(None) and names:
                    out.update(_leaves({names[0]: sub}, f"{prefix}{name} "))
    return out


def test_every_command_s_description_is_a_whole_sentence():
    """tyro shows a class docstring's first line as the command's description: it must end a sentence and stand
    alone (the next docstring line blank), not stop mid-sentence."""
    leaves = _leaves(COMMANDS)
    assert {"fit meshes", "inr fit", "bench edit", "train edit", "demo", "edit"} <= set(leaves)
    for command, cls in leaves.items():
        lines = (cls.__doc__ or "").strip().splitlines()
        assert lines and _first_line(cls).endswith("."), f"dws-edit {command}: {_first_line(cls)!r}"
        assert len(lines) == 1 or not lines[1].strip(), f"dws-edit {command}: its description goes on: {lines[1]!r}"


def test_render_size_times_scale_is_capped_before_anything_is_rendered(tmp_path, capsys):
    import dws_edit
    from dws_edit.inr import image_spec, init_siren

    dws_edit.save_inr(tmp_path / "x.safetensors", init_siren(image_spec(), 1))
    assert run("inr", "render", tmp_path / "x.safetensors", "--out", tmp_path / "big.png", "--size", "2048",
               "--scale", "64") == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert "--size 2048 x --scale 64" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "big.png").exists()


def test_the_app_refuses_a_gradio_server_port_that_is_not_a_number_in_one_line():
    import os
    import subprocess
    import sys
    from pathlib import Path

    app = Path(__file__).resolve().parents[2] / "app.py"
    env = dict(os.environ, GRADIO_SERVER_PORT="abc")
    done = subprocess.run([sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert (
        done.stderr.strip()
        == "app.py: error: GRADIO_SERVER_PORT='abc' is not accepted; accepted: a port number in [1, 65535]"
    )
