"""The fine-tuning baselines of `dws-edit bench nerf` (dws_edit.bench.nerf): both curves, and the time each needs to
reach the DWS edit's PSNR, 0 when the unedited field is already as close and None when a baseline never gets there."""

import torch
from helpers.cli import run
from helpers.fields import field_with_density

from dws_edit.bench.nerf import BenchNerf
from dws_edit.data.scenes import read_scene_split


def test_baselines_give_psnr_curves_and_the_time_to_reach_the_dws_psnr(tmp_path):
    truth = tmp_path / "mug-remove"
    tiny = ["--size", "12", "--train", "6", "--val", "1", "--test", "2", "--samples", "24"]
    assert run("make-scene", "--shape", "mug", "--edit", "remove", "--box", "-1", "-1", "-1", "0", "1", "1",
               "--out", truth, *tiny) == 0  # fmt: skip
    images, c2w, _ = read_scene_split(truth, "test")
    bench = BenchNerf(size=12, finetune_steps=(2, 4), rays=64)
    params = {"box": (-1.0, -1.0, -1.0, 0.0, 1.0, 1.0)}
    source = field_with_density()
    out = bench._baselines(source, "remove", params, truth, (c2w, images), 10.0, 12.0, 0.5)
    for key in ("distill", "render_finetune"):
        curve = out[f"{key}_curve"]
        assert len(curve) == 2 and 0 < curve[0][0] < curve[1][0]  # (seconds, PSNR) after 2 and 4 steps
        assert all(torch.isfinite(torch.tensor(p)) for _, p in curve)
    # an unreachable DWS PSNR: never (None); the unedited field as close as the DWS edit: no time needed (0)
    never = bench._baselines(source, "remove", params, truth, (c2w, images), 10.0, 1e3, 0.5)
    assert never["render_finetune_seconds_to_dws_psnr"] is None and never["render_finetune_speedup"] is None
    done = bench._baselines(source, "remove", params, truth, (c2w, images), 30.0, 20.0, 0.5)
    assert done["distill_seconds_to_dws_psnr"] == 0.0 and done["render_finetune_speedup"] == 0.0


def test_target_psnr_renders_the_edits_exact_target_of_the_runs_field(tmp_path):
    """The bench's ceiling column: the edit's functional target of the run's own field, rendered by the scenes'
    renderer. Removing the whole cube leaves no density: the target's views are the white background."""
    from dws_edit.bench.nerf import _field_psnr, _target_psnr

    truth = tmp_path / "mug"
    tiny = ["--size", "12", "--train", "3", "--val", "1", "--test", "2", "--samples", "24"]
    assert run("make-scene", "--shape", "mug", "--out", truth, *tiny) == 0
    images, c2w, _ = read_scene_split(truth, "test")
    white = float(-10 * torch.log10((1 - images).square().mean()))
    whole = {"box": (-1.0, -1.0, -1.0, 1.0, 1.0, 1.0)}
    assert abs(_target_psnr(field_with_density(), "remove", whole, c2w, images, 12) - white) < 1e-3
    kept = {"box": (0.9, 0.9, 0.9, 1.0, 1.0, 1.0)}  # a corner the views barely see: about the field as it is
    corner = _target_psnr(field_with_density(), "remove", kept, c2w, images, 12)
    assert abs(corner - white) > 0.1
    assert abs(corner - _field_psnr(field_with_density(), c2w, images, 12)) < 0.5


def test_rows_per_scene_symmetrize_once_per_mode_and_a_bad_mode_refused():
    import pytest

    cases = BenchNerf(edits=("symmetrize", "remove"), symmetrize_modes=("average", "union"))._cases()
    assert [label for label, _, _ in cases] == ["symmetrize", "symmetrize-union", "remove"]
    assert cases[1][1:] == ("symmetrize", {"axis": "x", "mode": "union"}) and "mode" not in cases[0][2]
    with pytest.raises(ValueError, match="--symmetrize-modes mean: accepted: average, union, intersection"):
        BenchNerf(symmetrize_modes=("mean",), scenes=()).run()


def test_the_pass_alone_and_the_hybrid_are_measured_beside_the_guarded_edit(tmp_path):
    """The bench's in-process rows: the model's pass with no refine and no guard, and the hybrid (pass, 100 refine
    steps, guard). Against views of the edit's exact target of the field itself, the hybrid's refine steps must
    bring the views closer than the pass alone."""
    from dws_edit.bench.nerf import _pass_and_hybrid
    from dws_edit.data.scenes import SceneViews, render_scene_views
    from dws_edit.edits import get_edit
    from dws_edit.runner import edit_targets

    scene = tmp_path / "mug"
    tiny = ["--size", "12", "--train", "3", "--val", "1", "--test", "2", "--samples", "24"]
    assert run("make-scene", "--shape", "mug", "--out", scene, *tiny) == 0
    c2w = read_scene_split(scene, "test")[1]  # the scene's test cameras
    params, field = {"box": (-1.0, -1.0, -1.0, 0.0, 1.0, 1.0)}, field_with_density()
    target = lambda p: edit_targets(get_edit("remove"), field, p, params, "field")  # noqa: E731
    images = render_scene_views(target, c2w, SceneViews(size=12))
    out = _pass_and_hybrid(field, "remove", params, c2w, images, 12)
    assert set(out) == {"pass_seconds", "pass_psnr_scene_renderer", "hybrid_seconds", "hybrid_psnr_scene_renderer"}
    assert out["hybrid_psnr_scene_renderer"] > out["pass_psnr_scene_renderer"] + 1 and out["pass_seconds"] > 0
