"""NeRF scenes in the Blender format (dws-edit make-scene): cameras, the pinhole model, exact edited fields, files."""

import json
import math

import pytest
import torch
from helpers.cli import run

from dws_edit.data.scenes import SCENE_DISTANCE, SceneViews, read_scene_split, scene_cameras, scene_field
from dws_edit.data.shapes import sample_shape
from dws_edit.render import camera_rays

TINY = ["--size", "12", "--train", "6", "--val", "1", "--test", "2", "--samples", "24"]


def test_cameras_look_at_the_origin_from_the_blender_distance_and_hold_out_their_angles():
    cams = scene_cameras(SceneViews(train=100, val=8, test=8))
    assert {k: len(v) for k, v in cams.items()} == {"train": 100, "val": 8, "test": 8}
    for c2w in torch.cat(list(cams.values())):
        rot, eye = c2w[:3, :3], c2w[:3, 3]
        torch.testing.assert_close(rot.T @ rot, torch.eye(3), atol=1e-5, rtol=0)  # a rotation
        assert torch.det(rot) > 0 and math.isclose(eye.norm().item(), SCENE_DISTANCE, rel_tol=1e-5)
        torch.testing.assert_close(rot[:, 2], eye / eye.norm(), atol=1e-5, rtol=0)  # looks along -z at the origin
        assert rot[1, 1] > 0  # y up
    train = cams["train"][:, :3, 3] / SCENE_DISTANCE
    for split in ("val", "test"):  # no held-out view looks from a training view's direction
        held = cams[split][:, :3, 3] / SCENE_DISTANCE
        assert (held @ train.T).max() < 0.999


def test_rays_follow_the_pinhole_model_nerfstudio_reads_from_camera_angle_x():
    """A ray through pixel (i, j) passes through the points the OpenGL pinhole of the Blender format maps there:
    x_cam = (j + 0.5 - W/2) / f, y_cam = -(i + 0.5 - H/2) / f, z_cam = -1, f = W / 2 / tan(camera_angle_x / 2)."""
    views, size = SceneViews(train=3, val=1, test=1), 10
    c2w = scene_cameras(views)["train"][1]
    origins, dirs = camera_rays(c2w[:3, 3], size)
    f = size / 2 / math.tan(math.radians(40.0) / 2)
    for i, j in ((0, 0), (3, 7), (9, 2)):
        cam = torch.tensor([(j + 0.5 - size / 2) / f, -(i + 0.5 - size / 2) / f, -1.0])
        world = c2w[:3, :3] @ cam
        torch.testing.assert_close(dirs[i * size + j], world / world.norm(), atol=1e-5, rtol=0)
        torch.testing.assert_close(origins[i * size + j], c2w[:3, 3])


def test_exact_edited_fields_are_the_edits_targets():
    mug = sample_shape("mug", torch.Generator().manual_seed(0))
    p = torch.rand(500, 3) * 2 - 1
    sym = scene_field(mug, "symmetrize", {"axis": "x"})
    mirrored = p * torch.tensor([-1.0, 1.0, 1.0])
    torch.testing.assert_close(sym(p), sym(mirrored))  # symmetric about x = 0
    assert not torch.allclose(scene_field(mug)(p), scene_field(mug)(mirrored), atol=1e-3)  # the mug was not
    cut = scene_field(mug, "remove", {"box": (-1, -1, -1, 0, 1, 1)})(p)[0, :, 0]
    assert cut[p[:, 0] < -0.05].max() < 1e-3  # no density left in the box
    handle = scene_field(mug, "remove_part", {"part": "handle"})(p)[0, :, 0]
    torch.testing.assert_close(handle, scene_field(mug.without("handle"))(p)[0, :, 0])


def test_make_scene_writes_a_blender_scene_that_reads_back(tmp_path):
    out = tmp_path / "mug-sym"
    assert run("make-scene", "--shape", "mug", "--edit", "symmetrize", "--axis", "x", "--out", out, *TINY) == 0
    assert sorted(p.name for p in out.iterdir()) == ["test", "train", "transforms_test.json", "transforms_train.json",
                                                     "transforms_val.json", "val"]  # fmt: skip
    images, poses, angle = read_scene_split(out, "train")
    assert images.shape == (6, 12, 12, 3) and poses.shape == (6, 4, 4) and math.isclose(angle, math.radians(40))
    assert (images < 0.9).any() and (images > 0.99).any()  # the mug and the white background
    meta = json.loads((out / "transforms_train.json").read_text())
    assert meta["frames"][0]["file_path"] == "./train/r_000" and meta["dws_edit"]["edit"] == "symmetrize"
    assert meta["dws_edit"]["params"] == {"axis": "x"}
    plain = tmp_path / "mug"
    assert run("make-scene", "--shape", "mug", "--out", plain, *TINY) == 0
    assert not torch.equal(read_scene_split(plain, "train")[0], images)  # the edit changed the views


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--shape", "teapot"], "--shape teapot: neither a shape family (mug, table"),
        (["--edit", "smooth", "--sigma", "0.05"], "--edit smooth: its exact target costs"),
        (["--edit", "mirror", "--axis", "x"], "--edit mirror: not an edit with a functional target of a colored"),
        (["--shape", "primitive", "--edit", "remove_part", "--part", "handle"], "--edit remove_part --part handle: a"),
        (["--axis", "x"], "--axis goes with --edit"),
        (["--edit", "remove", "--box", "0", "0", "0", "3", "1", "1"], "edit 'remove' (field): box corner value 3"),
        (["--size", "4"], "--size 4: expected an integer in [8, 2048]"),
        (["--samples", "100000000"], "--samples 100000000: expected an integer in [8, 4096]"),
    ],
)
def test_bad_input_is_refused_in_one_line_and_nothing_is_written(tmp_path, capsys, args, expected):
    out = tmp_path / "scene"
    assert run("make-scene", "--out", out, *TINY, *args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err
    assert list(tmp_path.iterdir()) == []


def test_an_existing_scene_is_kept_unless_overwrite_and_then_replaced_whole(tmp_path, capsys):
    out = tmp_path / "scene"
    assert run("make-scene", "--out", out, *TINY) == 0
    before = (out / "transforms_train.json").read_text()
    assert run("make-scene", "--out", out, "--seed", "1", *TINY) == 2
    assert "exists; choose another folder or add --overwrite" in capsys.readouterr().err
    assert (out / "transforms_train.json").read_text() == before
    assert run("make-scene", "--out", out, "--seed", "1", "--overwrite", *TINY) == 0
    assert json.loads((out / "transforms_train.json").read_text())["dws_edit"]["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene"]  # no staging folder left


def test_a_mesh_file_makes_a_scene_and_its_edited_scene(tmp_path):
    import trimesh

    mesh = tmp_path / "box.obj"
    trimesh.creation.box(extents=(1.0, 0.6, 0.4)).export(mesh)
    for name, edit in (("box", []), ("box-half", ["--edit", "remove", "--box", "0", "-1", "-1", "1", "1", "1"])):
        assert run("make-scene", "--shape", mesh, *edit, "--out", tmp_path / name, *TINY) == 0
    box, half = (read_scene_split(tmp_path / name, "test")[0] for name in ("box", "box-half"))
    assert box.shape == (2, 12, 12, 3) and (box < 0.9).any()  # the grey box in view
    assert (half > 0.99).sum() > (box > 0.99).sum()  # half of it removed: more white background


def test_overwrite_replaces_only_a_scene_and_a_file_in_the_path_is_refused(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("precious")
    assert run("make-scene", "--out", mine, "--overwrite", *TINY) == 2
    assert "is not a scene (no transforms_train.json)" in capsys.readouterr().err
    assert (mine / "keep.txt").read_text() == "precious" and sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    (tmp_path / "afile").write_text("x")
    assert run("make-scene", "--out", tmp_path / "afile" / "scene", *TINY) == 2
    assert "a file stands in its path" in capsys.readouterr().err
    assert run("make-scene", "--out", tmp_path / "s", *TINY) == 0
    assert (tmp_path / "s").stat().st_mode & 0o777 == 0o755  # readable by others, not mkdtemp's 0700
