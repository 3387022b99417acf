import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from dws_edit.data import ZooDataset, fit_zoo, load_zoo, read_manifest
from dws_edit.data.images import load_sklearn_digits
from dws_edit.data.sources import ImageSource, SineSource
from dws_edit.inr import evaluate, grid_coords, image_spec, psnr_from_mse, sdf_spec

FAST = dict(dataset="digits", count=40, shard_size=16, max_steps=150, target_psnr=30.0)


@pytest.fixture(scope="module")
def small_zoo(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo")
    fit_zoo(ImageSource(out=out, **FAST), progress=False)
    return out


def test_zoo_holds_every_item_once_with_its_split_label_and_quality(small_zoo):
    manifest = read_manifest(small_zoo)
    assert manifest["complete"] and manifest["count"] == 40 and len(manifest["shards"]) == 3
    parts = [load_zoo(small_zoo, s) for s in ("train", "val", "test")]
    index = torch.cat([p.index for p in parts])
    assert sorted(index.tolist()) == list(range(40))
    images, labels = load_sklearn_digits()
    every = load_zoo(small_zoo, "all")
    assert torch.equal(every.labels, labels[every.index])
    # the stored fit error is the error of the stored weights
    pred = evaluate(every.ws, grid_coords(8, 8)).reshape(-1, 8, 8)
    mse = (pred - images[every.index]).square().mean(dim=(1, 2))
    torch.testing.assert_close(mse, every.mse, rtol=1e-3, atol=1e-7)
    assert (psnr_from_mse(every.mse) >= 30.0 - 1e-4).float().mean() > 0.9
    summary = manifest["summary"]
    assert summary["inrs"] == 40 and summary["train_inrs"] + summary["val_inrs"] + summary["test_inrs"] == 40
    assert every.stats is not None and every.spec == image_spec()


def test_dataset_yields_weightspace_batches_with_augmentation(small_zoo):
    zoo = load_zoo(small_zoo, "train")
    batches = list(ZooDataset(zoo, augment=True).loader(batch_size=8, shuffle=True))
    assert sum(ws.batch_size for ws, _ in batches) == len(zoo)
    ws, labels = batches[0]
    assert ws.spec == zoo.spec and labels.shape == (8,)
    plain = ZooDataset(zoo).__getitems__(list(range(8)))[0]
    permuted = ZooDataset(zoo, augment=True, seed=3).__getitems__(list(range(8)))[0]
    assert not torch.allclose(plain.flatten(), permuted.flatten())
    coords = grid_coords(8, 8)
    torch.testing.assert_close(evaluate(permuted, coords), evaluate(plain, coords), atol=1e-5, rtol=0)
    normed = ZooDataset(zoo, normalize=True).__getitems__(list(range(len(zoo))))[0]
    assert abs(normed.weights[1].mean().item()) < 1e-4


def test_killed_fit_resumes_to_the_same_zoo(tmp_path, small_zoo):
    out = tmp_path / "resumed"
    cmd = [sys.executable, "-m", "dws_edit.cli", "fit", "images", "--out", str(out)]
    for k, v in FAST.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    cmd[cmd.index("--shard-size") + 1] = "4"  # 10 shards: plenty of time to kill it midway
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if len(json.loads((out / "manifest.json").read_text())["shards"]) >= 2:
                    break
            except (FileNotFoundError, json.JSONDecodeError):
                pass
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    partial = read_manifest(out)
    assert not partial["complete"] and 2 <= len(partial["shards"]) < 10
    first = (out / "shard-00000.safetensors").read_bytes()
    with pytest.raises(ValueError, match="incomplete"):
        load_zoo(out)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert (out / "shard-00000.safetensors").read_bytes() == first  # finished shards are not refitted
    resumed, fresh = load_zoo(out, "all"), load_zoo(small_zoo, "all")
    assert sorted(resumed.index.tolist()) == list(range(40))
    order = torch.argsort(resumed.index)
    fresh_order = torch.argsort(fresh.index)
    assert torch.equal(resumed.labels[order], fresh.labels[fresh_order])


def test_corrupt_or_mismatched_zoo_is_named(tmp_path, small_zoo):
    import shutil

    zoo = tmp_path / "zoo"
    shutil.copytree(small_zoo, zoo)
    with pytest.raises(ValueError, match=r"zoo spec \(2, 32, 32, 1\) is not the expected \(3, 32, 32, 1\)"):
        load_zoo(zoo, spec=sdf_spec())
    with pytest.raises(ValueError, match="split 'bogus'"):
        load_zoo(zoo, "bogus")
    shard = zoo / "shard-00001.safetensors"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="shard-00001.safetensors does not match the manifest's checksum"):
        load_zoo(zoo)
    shard.unlink()
    with pytest.raises(ValueError, match="shard-00001.safetensors is listed in the zoo's manifest but missing"):
        load_zoo(zoo)
    shard.write_bytes(data)
    manifest = json.loads((zoo / "manifest.json").read_text())
    manifest["shards"][0]["items"] += 1
    (zoo / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="shard-00000.safetensors: 'index' is missing or does not hold"):
        load_zoo(zoo)
    (zoo / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="manifest.json is not valid JSON"):
        load_zoo(zoo)


def test_resuming_with_another_config_is_refused(tmp_path, small_zoo):
    import shutil

    zoo = tmp_path / "zoo"
    shutil.copytree(small_zoo, zoo)
    with pytest.raises(ValueError, match="belongs to another zoo"):
        fit_zoo(ImageSource(out=zoo, **{**FAST, "seed": 5}), progress=False)


def test_sine_source_targets_and_split():
    src = SineSource(total=50, val_count=5, test_count=5, points=100)
    batch = src.batch(torch.arange(3))
    a, b = batch.labels[:, 0], batch.labels[:, 1]
    x = batch.coords[:, 0]
    torch.testing.assert_close(batch.targets[:, :, 0], a[:, None] * torch.sin(b[:, None] * x[None]))
    assert ((batch.labels >= 0) & (batch.labels <= 10)).all()
    split = src.splits()
    assert (split == 1).sum() == 5 and (split == 2).sum() == 5
    assert torch.equal(split, src.splits())  # fixed


def test_mesh_folder_zoo(tmp_path):
    import trimesh

    from dws_edit.data.sources import MeshSource

    meshes = tmp_path / "meshes"
    meshes.mkdir()
    trimesh.creation.icosphere(subdivisions=3, radius=0.5).export(meshes / "ball.obj")
    trimesh.creation.box(extents=(0.8, 0.4, 0.6)).export(meshes / "brick.stl")
    (meshes / "notes.txt").write_text("not a mesh")
    out = tmp_path / "zoo"
    fit_zoo(MeshSource(folder=meshes, out=out, points=512, max_steps=150), progress=False)
    zoo = load_zoo(out, "all")
    assert [m["file"] for m in zoo.meta] == ["ball.obj", "brick.stl"]
    assert zoo.mse.sqrt().max() < 0.05
    # the fitted ball's SDF: negative at the centre, positive at a corner
    values = evaluate(zoo.ws[0], torch.tensor([[0.0, 0.0, 0.0], [0.9, 0.9, 0.9]]))[0, :, 0]
    assert values[0] < 0 < values[1]


def test_cli_errors_are_one_line(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "dws_edit.cli", *args], capture_output=True, text=True)

    out = run("fit", "images", "--dataset", "cifar10", "--out", str(tmp_path / "z"))
    assert out.returncode == 2 and "needs --root" in out.stderr and "Traceback" not in out.stderr
    out = run("fit", "images", "--dataset", "imagenet", "--out", str(tmp_path / "z"))
    assert out.returncode == 2 and "unknown image dataset 'imagenet'; accepted:" in out.stderr
    out = run("fit", "meshes", "--folder", str(tmp_path / "nowhere"), "--out", str(tmp_path / "z"))
    assert out.returncode == 2 and "does not exist" in out.stderr and "Traceback" not in out.stderr
    out = run("fit", "shapes", "--families", "mug", "teapot", "--out", str(tmp_path / "z"))
    assert out.returncode == 2 and "unknown shape families ['teapot']; accepted: mug" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "z").exists()  # a failed start leaves nothing behind
    out = run("fit", "bogus")
    assert out.returncode == 2 and "unknown command 'bogus'; accepted: images, sines, shapes, meshes" in out.stderr


@pytest.mark.parametrize("field", [False, True])
def test_shape_zoo_records_exact_shape_parameters(tmp_path, field):
    from dws_edit.data.shapes import Shape
    from dws_edit.data.sources import ShapeSource

    source = ShapeSource(out=tmp_path / "zoo", field=field, per_family=2, points=256, max_steps=30, shard_size=4)
    fit_zoo(source, progress=False)
    zoo = load_zoo(source.out, "all")
    assert len(zoo) == 10 and zoo.spec.layer_sizes[-1] == (4 if field else 1)
    families = [m["family"] for m in zoo.meta]
    assert torch.equal(zoo.labels, torch.tensor([source.families.index(f) for f in families]))
    # the metadata rebuilds each INR's shape exactly, and its edited variants from it
    points = torch.rand(64, 3) * 2 - 1
    for i, meta in zip(zoo.index.tolist(), zoo.meta):
        torch.testing.assert_close(Shape.from_dict(meta).sdf(points), source.shape(i).sdf(points))
    mug = next(Shape.from_dict(m) for m in zoo.meta if m["family"] == "mug")
    assert "handle" in mug.part_names and "handle" not in mug.without("handle").part_names
