"""dws-nerf runs as INRs (dws_edit.inr.nerf_runs) and ns-edit's refusals, on runs built here without training:
the method's own config (nerfstudio's save_config) and a checkpoint of a real field; the written runs are loaded
by nerfstudio's own eval_setup."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
import torch

from dws_edit.data.scenes import SceneViews, write_scene
from dws_edit.inr.evaluate import evaluate
from dws_edit.inr.nerf_runs import FIELD_KEY, find_run, load_nerf, write_nerf_run
from dws_edit.weights import WeightSpace

pytest.importorskip("nerfstudio")

from nerfstudio_plugin.config import dws_nerf  # noqa: E402
from nerfstudio_plugin.edit import main as ns_edit  # noqa: E402
from nerfstudio_plugin.field import SirenField  # noqa: E402


def _scene(root: Path) -> Path:
    def field(points):  # a ball of radius 0.5, red
        inside = (points.norm(dim=-1) < 0.5).float()
        zero = torch.zeros_like(inside)
        return torch.stack([inside, torch.ones_like(inside), zero, zero], -1)[None]

    return write_scene(root / "scene", field, SceneViews(size=8, train=3, val=1, test=1, samples=16), {"test": True})


def make_run(root: Path, hidden=(16, 16), timestamp="src", seed=0) -> Path:
    """A dws-nerf run as ns-train leaves it: config.yml by nerfstudio's save_config, one checkpoint."""
    config = copy.deepcopy(dws_nerf.config)
    config.data = config.pipeline.datamanager.data = _scene(root) if not (root / "scene").exists() else root / "scene"
    config.output_dir, config.experiment_name, config.timestamp = root / "outputs", "ball", timestamp
    config.pipeline.model.hidden = tuple(hidden)
    config.save_config()
    field = SirenField(hidden, seed=seed)
    state = {"_model.device_indicator_param": torch.empty(0)}
    state.update({f"_model.field.{k}": v for k, v in field.state_dict().items()})
    models = config.get_base_dir() / "nerfstudio_models"
    models.mkdir()
    torch.save({"step": 41, "pipeline": state, "optimizers": {}, "schedulers": {}, "scalers": {}},
               models / "step-000000041.ckpt")  # fmt: skip
    return config.get_base_dir() / "config.yml"


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")
            if p.is_file()}  # fmt: skip


def test_load_nerf_reads_the_field_of_a_run(tmp_path):
    config = make_run(tmp_path)
    ws = load_nerf(config.parent)
    assert ws.spec.layer_sizes == (3, 16, 16, 4) and ws.spec.w0 == 15.0 and ws.batch_size == 1
    field = SirenField((16, 16), seed=0)
    points = torch.rand(100, 3) * 2 - 1
    torch.testing.assert_close(evaluate(ws, points)[0], field.values(points).detach())
    assert find_run(config).step == 41


def test_a_written_run_loads_in_nerfstudio_with_the_edited_field(tmp_path):
    from nerfstudio.utils.eval_utils import eval_setup

    config = make_run(tmp_path)
    before = _digest(config.parent)
    ws = load_nerf(config)
    w, b = ws.weights, ws.biases  # the first hidden layer widened to 32 by neurons the next layer ignores
    weights = (torch.cat([w[0], torch.randn_like(w[0])], 2), torch.cat([w[1], torch.zeros_like(w[1])], 3), w[2])
    biases = (torch.cat([b[0], torch.randn_like(b[0])], 2), b[1], b[2])
    wide = WeightSpace(ws.spec.__class__((3, 32, 16, 4), "sine", 15.0, 0.0), weights, biases)
    written = write_nerf_run(find_run(config), wide, tmp_path / "edited", "ball", "wide", tmp_path / "scene", {"x": 1})
    assert written == (tmp_path / "edited" / "ball" / "dws-nerf" / "wide" / "config.yml").resolve()
    assert _digest(config.parent) == before  # the source run is only read
    _, pipeline, _, step = eval_setup(written, test_mode="inference")
    assert step == 41 and pipeline.model.field.spec.layer_sizes == (3, 32, 16, 4)
    points = torch.rand(50, 3) * 2 - 1
    torch.testing.assert_close(pipeline.model.field.values(points).detach(), evaluate(wide, points)[0])
    assert load_nerf(written).spec.layer_sizes == (3, 32, 16, 4)
    ckpt = torch.load(next((written.parent / "nerfstudio_models").glob("*.ckpt")), weights_only=True)
    assert set(ckpt["pipeline"]) == set(pipeline.state_dict())  # exactly the model's keys


def test_nerfstudio_refuses_a_checkpoint_that_does_not_match_its_config(tmp_path):
    """The model loads strictly: nerfstudio's retry with strict=False would keep random weights silently."""
    from nerfstudio.utils.eval_utils import eval_setup

    config = make_run(tmp_path)
    ckpt = next((config.parent / "nerfstudio_models").glob("*.ckpt"))
    data = torch.load(ckpt, weights_only=True)
    del data["pipeline"][FIELD_KEY.format(i=2, what="bias")]
    torch.save(data, ckpt)
    with pytest.raises(RuntimeError, match="field.layers.2.bias"):
        eval_setup(config, test_mode="inference")
    with pytest.raises(ValueError, match="layers.2.bias is missing"):
        load_nerf(config)


def _ns_edit(capsys, *args) -> tuple[int, str]:
    try:
        ns_edit([str(a) for a in args])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err.strip()


def test_ns_edit_writes_an_exact_edit_and_refuses_bad_input_in_one_line(tmp_path, capsys):
    config = make_run(tmp_path)
    out = tmp_path / "edits"
    code, err = _ns_edit(capsys, "--method", "symmetrize-exact", "--load-config", config, "--output-dir", out,
                         "--axis", "x")  # fmt: skip
    assert code == 0, err
    edited = out / "ball" / "dws-nerf" / "symmetrize-exact" / "config.yml"
    ws, source = load_nerf(edited), load_nerf(config)
    assert ws.spec.hidden_sizes == (32, 32)  # the exact symmetrize doubles the widths
    p = torch.rand(64, 3) * 2 - 1
    mirrored = p * torch.tensor([-1.0, 1.0, 1.0])
    expected = (evaluate(source, p) + evaluate(source, mirrored)) / 2
    torch.testing.assert_close(evaluate(ws, p), expected, atol=1e-5, rtol=1e-4)
    snapshot = _digest(out)

    nerfacto = tmp_path / "nerfacto.yml"
    nerfacto.write_text(config.read_text().replace("method_name: dws-nerf", "method_name: nerfacto"))
    no_ckpt = tmp_path / "empty" / "config.yml"
    no_ckpt.parent.mkdir()
    no_ckpt.write_text(config.read_text())
    cases = {
        ("--load-config", nerfacto): "supported: dws-nerf",
        ("--load-config", tmp_path / "nowhere" / "config.yml"): "no such run config",
        ("--load-config", no_ckpt): "no checkpoint",
        ("--load-config", config, "--sigma", "5", "--method", "dws-smooth"): "sigma",
        ("--load-config", config, "--axis", "x"): "exists; choose another --timestamp",
        ("--load-config", config, "--axis", "x", "--data", tmp_path / "nodata"): "no scene there",
        ("--load-config", config, "--box", "0", "0", "0", "1", "1", "1"): "box",
        ("--load-config", config, "--output-dir", nerfacto): "is a file; accepted: a folder",
        ("--load-config", config, "--export-mesh", tmp_path / "m.txt", "--axis", "x", "--timestamp", "m"): "suffixes",
    }
    for args, expected_text in cases.items():
        method = [] if "--method" in args else ["--method", "symmetrize-exact"]
        method += [] if "--axis" in args or "--method" in args else ["--axis", "x"]
        code, err = _ns_edit(capsys, *method, *args, *([] if "--output-dir" in args else ["--output-dir", out]))
        assert code == 2 and expected_text in err and err.count("\n") == 0, (args, err)
    code, err = _ns_edit(capsys, "--method", "dws-sharpen", "--load-config", config)
    assert code == 2 and "dws-symmetrize" in err and err.count("\n") == 0, err
    assert _digest(out) == snapshot  # nothing written by a refused command

    code, err = _ns_edit(capsys, "--method", "mirror", "--load-config", config, "--output-dir", out, "--axis", "x",
                         "--overwrite", "--timestamp", "symmetrize-exact")  # fmt: skip
    assert code == 0, err  # --overwrite replaces an edited run
    torch.testing.assert_close(evaluate(load_nerf(edited), p), evaluate(source, mirrored), atol=1e-5, rtol=1e-4)
