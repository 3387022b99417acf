import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings

import pytest
import torch
import tyro
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from dws_edit.cli.fit import FitImages, FitShapes
from dws_edit.cli.zoo import ZooInfo
from dws_edit.data import (
    FitOptions,
    ImageSource,
    MeshSource,
    ShapeSource,
    SineSource,
    ZooDataset,
    ZooFitError,
    ZooQualityWarning,
    fit_zoo,
    load_zoo,
    read_manifest,
)
from dws_edit.data.images import load_sklearn_digits
from dws_edit.inr import evaluate, grid_coords, image_spec, psnr_from_mse, sdf_spec
from dws_edit.io import read_metadata

SOURCE = dict(dataset="digits", target_psnr=30.0)
OPTIONS = dict(count=40, shard_size=16, max_steps=150)
FLAGS = ["--dataset", "digits", "--target-psnr", "30", "--count", "40", "--max-steps", "150"]
CLI = [sys.executable, "-c", "from dws_edit.cli import main; main()"]


def cli(*args):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def small_zoo(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo")
    fit_zoo(ImageSource(**SOURCE), out, FitOptions(**OPTIONS), progress=False)
    return out


def test_zoo_holds_every_item_once_with_its_split_label_and_quality(small_zoo):
    manifest = read_manifest(small_zoo)
    assert manifest["complete"] and manifest["count"] == 40 and len(manifest["shards"]) == 3
    assert manifest["error_metric"] == "psnr" and manifest["fit"]["max_steps"] == 150
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
    reached = (psnr_from_mse(every.mse) >= 30.0 - 1e-4).float().mean().item()
    assert reached > 0.9
    summary = manifest["summary"]
    assert summary["inrs"] == 40 and summary["train_inrs"] + summary["val_inrs"] + summary["test_inrs"] == 40
    assert summary["reached_target"] == pytest.approx(reached, abs=1e-6)
    assert summary["met_min_reached"] is True and summary["min_reached"] == 0.5
    assert every.stats is not None and every.spec == image_spec()


def test_shards_are_plain_safetensors_with_the_same_bytes(small_zoo):
    """Written through dws_edit.io, a shard is what safetensors.torch.save writes for its tensors and metadata
    (the format zoos had before): the same header (safetensors orders its metadata keys at random) and the same
    tensor bytes."""

    def header_and_body(data: bytes) -> tuple[dict, bytes]:
        size = int.from_bytes(data[:8], "little")
        return json.loads(data[8 : 8 + size]), data[8 + size :]

    for entry in read_manifest(small_zoo)["shards"]:
        data = (small_zoo / entry["file"]).read_bytes()
        meta = read_metadata(data)
        assert header_and_body(st_save(st_load(data), metadata=meta)) == header_and_body(data)
        assert json.loads(meta["spec"]) == image_spec().to_dict() and meta["version"] == "1"


def test_dataset_yields_weightspace_batches_with_augmentation(small_zoo):
    zoo = load_zoo(small_zoo, "train")
    batches = list(ZooDataset(zoo, augment=True).loader(batch_size=8, shuffle=True))
    assert sum(ws.batch_size for ws, _ in batches) == len(zoo)
    ws, labels = batches[0]
    assert ws.spec == zoo.spec and labels.shape == (8,)
    plain = ZooDataset(zoo).__getitems__(list(range(8)))[0]
    permuted = ZooDataset(zoo, augment=True, seed=3).__getitems__(list(range(8)))[0]
    assert torch.equal(plain.flatten(), zoo.ws[:8].flatten())  # as fitted: the model owns normalization
    assert not torch.allclose(plain.flatten(), permuted.flatten())
    coords = grid_coords(8, 8)
    torch.testing.assert_close(evaluate(permuted, coords), evaluate(plain, coords), atol=1e-5, rtol=0)


@pytest.mark.slow
def test_killed_fit_resumes_without_rewriting_finished_shards(tmp_path, small_zoo):
    out = tmp_path / "resumed"
    cmd = [*CLI, "fit", "images", "--out", str(out), *FLAGS, "--shard-size", "4"]  # 10 shards: time to kill it
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
    finished = {e["file"]: (out / e["file"]).stat() for e in partial["shards"]}
    with pytest.raises(ValueError, match="incomplete"):
        load_zoo(out)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for name, before in finished.items():  # finished shards are neither refitted nor rewritten
        after = (out / name).stat()
        assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    manifest = read_manifest(out)
    assert manifest["complete"] and len(manifest["shards"]) == 10
    resumed, fresh = load_zoo(out, "all"), load_zoo(small_zoo, "all")
    assert sorted(resumed.index.tolist()) == list(range(40))
    assert torch.equal(resumed.labels[torch.argsort(resumed.index)], fresh.labels[torch.argsort(fresh.index)])
    assert torch.equal(resumed.split[torch.argsort(resumed.index)], fresh.split[torch.argsort(fresh.index)])


def test_corrupt_or_mismatched_zoo_is_named(tmp_path, small_zoo):
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
    zoo = tmp_path / "zoo"
    shutil.copytree(small_zoo, zoo)
    with pytest.raises(ValueError, match="belongs to another zoo"):
        fit_zoo(ImageSource(**SOURCE, seed=5), zoo, FitOptions(**OPTIONS, seed=5), progress=False)
    with pytest.raises(ValueError, match="belongs to another zoo"):
        fit_zoo(ImageSource(**SOURCE), zoo, FitOptions(**{**OPTIONS, "lr": 1e-3}), progress=False)
    # options that do not change the INRs (chunk, min_reached) resume the same zoo
    same = fit_zoo(ImageSource(**SOURCE), zoo, FitOptions(**OPTIONS, chunk=7, min_reached=0.2), progress=False)
    assert same == read_manifest(small_zoo)


def test_zoo_written_before_the_split_of_sources_and_options_still_loads_and_resumes(tmp_path, small_zoo):
    """Manifests of earlier versions: no "fit", "error_metric" or min_reached; "families": null in every source."""
    zoo = tmp_path / "old"
    shutil.copytree(small_zoo, zoo)
    manifest = json.loads((zoo / "manifest.json").read_text())
    for key in ("fit", "error_metric"):
        del manifest[key]
    for key in ("min_reached", "met_min_reached"):
        del manifest["summary"][key]
    manifest["source"]["families"] = None
    (zoo / "manifest.json").write_text(json.dumps(manifest))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_zoo(zoo, "all")) == 40
        assert fit_zoo(ImageSource(**SOURCE), zoo, FitOptions(**OPTIONS), progress=False) == manifest
    del manifest["summary"]  # zoo info computes it, reporting PSNR for an image zoo
    (zoo / "manifest.json").write_text(json.dumps(manifest))
    (row,) = ZooInfo(paths=(zoo,)).run()
    assert row["mean_psnr_db"] > 30 and "mean_rmse" not in row and row["reached_target"] > 0.9


def test_zoo_info_rows(small_zoo, capsys):
    rows = ZooInfo(paths=(small_zoo, small_zoo)).run()
    summary = read_manifest(small_zoo)["summary"]
    assert len(rows) == 2 and rows[0]["path"] == str(small_zoo)
    assert rows[0]["inrs"] == 40 and rows[0]["mean_psnr_db"] == summary["mean_psnr_db"] > 30
    assert rows[0]["train_inrs"] + rows[0]["val_inrs"] + rows[0]["test_inrs"] == 40
    assert rows[0]["bytes"] > sum((small_zoo / e["file"]).stat().st_size for e in read_manifest(small_zoo)["shards"])
    assert rows[0]["wall_time_s"] > 0
    printed = capsys.readouterr().out
    assert "PSNR" in printed and "digits" in printed and "2->32->32->1" in printed
    with pytest.raises(ValueError, match="is not a zoo"):
        ZooInfo(paths=(small_zoo / "nowhere",)).run()


def test_zoo_info_without_paths_lists_the_zoos_folder_or_says_it_holds_none(small_zoo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="no zoo given and zoos/ holds none"):
        ZooInfo().run()
    (tmp_path / "zoos").mkdir()
    (tmp_path / "zoos" / "digits").symlink_to(small_zoo)
    (rows,) = ZooInfo().run()
    assert rows["path"] == "zoos/digits" and rows["inrs"] == 40


def test_a_diverging_fit_is_marked_failed_and_loading_it_warns(tmp_path):
    out = tmp_path / "diverged"
    with pytest.raises(ZooFitError, match=r"only 0\.0% of its 16 INRs reached the fit target \(PSNR 40\.0 dB") as err:
        fit_zoo(ImageSource(dataset="digits"), out, FitOptions(count=16, lr=5.0, max_steps=40), progress=False)
    assert "\n" not in str(err.value) and isinstance(err.value, ValueError)
    manifest = read_manifest(out)
    assert manifest["complete"] and manifest["summary"]["met_min_reached"] is False
    assert err.value.manifest == manifest
    with pytest.warns(ZooQualityWarning, match=rf"zoo {re.escape(str(out))}: only 0\.0% .* below the minimum 50%"):
        zoo = load_zoo(out, "all")
    assert len(zoo) == 16
    with pytest.raises(ZooFitError):  # rerun: still failed, still loud
        fit_zoo(ImageSource(dataset="digits"), out, FitOptions(count=16, lr=5.0, max_steps=40), progress=False)
    (row,) = ZooInfo(paths=(out,)).run()
    assert row["met_min_reached"] is False


def test_fit_options_are_checked_and_sources_declare_defaults(tmp_path):
    assert FitOptions.for_source(ShapeSource).lr == 3e-3 and FitOptions.for_source(MeshSource()).max_steps == 300
    assert FitOptions.for_source(ImageSource, lr=1e-2) == FitOptions(lr=1e-2)
    for bad in (dict(min_reached=1.5), dict(shard_size=0), dict(lr=0.0), dict(count=0)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            FitOptions(**bad).check()
    with pytest.raises(ValueError, match="lr -1"):
        fit_zoo(SineSource(total=4), tmp_path / "z", FitOptions(lr=-1), progress=False)
    with pytest.raises(ValueError, match=r"unknown shape families \['teapot'\]; accepted: mug, table"):
        fit_zoo(ShapeSource(families=("mug", "teapot")), tmp_path / "z", progress=False)
    assert not (tmp_path / "z").exists()  # nothing written


def test_fit_command_flags_stay_flat(tmp_path):
    out = tmp_path / "zoo"
    args = ["--families", "mug", "--per-family", "3", "--points", "128", "--seed", "4", "--out", str(out)]
    config = tyro.cli(FitShapes, args=[*args, "--max-steps", "20", "--min-reached", "0"])
    assert config.source.families == ("mug",) and config.fit.lr == 3e-3 and config.fit.max_steps == 20
    manifest = config.run()
    assert manifest["source"]["seed"] == 4 and manifest["fit"]["seed"] == 4 and "init_seed" not in manifest["source"]
    assert manifest["source"]["kind"] == "sdf" and manifest["count"] == 3
    images = tyro.cli(FitImages, args=["--dataset", "digits", "--count", "8", "--lr", "0.01", "--out", str(out)])
    assert images.source.dataset == "digits" and images.fit.count == 8 and images.fit.max_steps == 1000
    other = tyro.cli(FitShapes, args=[*args[:-1], str(tmp_path / "other"), "--init-seed", "7", "--max-steps", "20",
                                      "--min-reached", "0"]).run()  # fmt: skip
    assert other["source"]["seed"] == 4 and other["source"]["init_seed"] == 7 and other["fit"]["seed"] == 7
    a, b = load_zoo(out, "train"), load_zoo(tmp_path / "other", "train")  # the same shapes, other initialisations
    assert a.meta == b.meta and not torch.equal(a.ws.weights[0], b.ws.weights[0])


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
    assert src.describe() == {"kind": "sines", "total": 50, "val_count": 5, "test_count": 5, "points": 100,
                              "target_rmse": 0.05, "seed": 0}  # fmt: skip


def test_mesh_folder_zoo(tmp_path):
    import trimesh

    meshes = tmp_path / "meshes"
    meshes.mkdir()
    trimesh.creation.icosphere(subdivisions=3, radius=0.5).export(meshes / "ball.obj")
    trimesh.creation.box(extents=(0.8, 0.4, 0.6)).export(meshes / "brick.stl")
    (meshes / "notes.txt").write_text("not a mesh")
    out = tmp_path / "zoo"
    options = FitOptions.for_source(MeshSource, max_steps=150)
    fit_zoo(MeshSource(folder=meshes, points=512), out, options, progress=False)
    zoo = load_zoo(out, "all")
    assert [m["file"] for m in zoo.meta] == ["ball.obj", "brick.stl"]
    assert zoo.mse.sqrt().max() < 0.05
    assert read_manifest(out)["source"]["files"] == ["ball.obj", "brick.stl"]
    # the fitted ball's SDF: negative at the centre, positive at a corner
    values = evaluate(zoo.ws[0], torch.tensor([[0.0, 0.0, 0.0], [0.9, 0.9, 0.9]]))[0, :, 0]
    assert values[0] < 0 < values[1]


def test_mesh_folder_checks_every_file_before_fitting(tmp_path):
    import trimesh

    from dws_edit.data.meshes import MeshWarning

    meshes = tmp_path / "meshes"
    meshes.mkdir()
    trimesh.creation.box(extents=(0.8, 0.4, 0.6)).export(meshes / "a_brick.stl")
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    trimesh.Trimesh(sphere.vertices, sphere.faces[4:], process=False).export(meshes / "b_open.ply")
    trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]]).export(meshes / "c_flat.obj")
    (meshes / "d_broken.stl").write_bytes(b"solid x\nfacet garbage\n")
    out = tmp_path / "zoo"
    options = FitOptions.for_source(MeshSource, max_steps=20, min_reached=0.0)
    with pytest.warns(MeshWarning, match="b_open.ply: mesh is not watertight"):
        with pytest.raises(ValueError, match="2 of 4 meshes cannot be fitted") as err:
            fit_zoo(MeshSource(folder=meshes, points=256), out, options, progress=False)
    assert "c_flat.obj" in str(err.value) and "d_broken.stl" in str(err.value) and "b_open" not in str(err.value)
    assert not out.exists()  # nothing fitted, nothing to lose
    (meshes / "c_flat.obj").unlink()
    (meshes / "d_broken.stl").unlink()
    with pytest.warns(MeshWarning, match="b_open.ply"):
        fit_zoo(MeshSource(folder=meshes, points=256), out, options, progress=False)
    assert [m["file"] for m in load_zoo(out, "all").meta] == ["a_brick.stl", "b_open.ply"]


@pytest.mark.slow
def test_cli_errors_are_one_line(tmp_path):
    out = cli("fit", "images", "--dataset", "cifar10", "--out", tmp_path / "z")
    assert out.returncode == 2 and "needs --root" in out.stderr and "Traceback" not in out.stderr
    out = cli("fit", "images", "--dataset", "imagenet", "--out", tmp_path / "z")
    assert out.returncode == 2 and "unknown image dataset 'imagenet'; accepted:" in out.stderr
    out = cli("fit", "meshes", "--folder", tmp_path / "nowhere", "--out", tmp_path / "z")
    assert out.returncode == 2 and "does not exist" in out.stderr and "Traceback" not in out.stderr
    out = cli("fit", "shapes", "--families", "mug", "teapot", "--out", tmp_path / "z")
    assert out.returncode == 2 and "unknown shape families ['teapot']; accepted: mug" in out.stderr
    assert "Traceback" not in out.stderr
    out = cli("fit", "sines", "--min-reached", "2", "--out", tmp_path / "z")
    assert out.returncode == 2 and out.stderr.strip().endswith("min_reached 2.0: expected a fraction in [0, 1]")
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "z").exists()  # a failed start leaves nothing behind
    out = cli("fit", "bogus")
    assert out.returncode == 2 and "bogus" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_cli_fit_that_diverges_exits_non_zero_with_one_line(tmp_path):
    out = cli("fit", "images", "--dataset", "digits", "--count", "16", "--lr", "5", "--max-steps", "40",
              "--out", tmp_path / "z")  # fmt: skip
    lines = out.stderr.strip().splitlines()
    assert out.returncode != 0 and len(lines) == 1, out.stderr
    assert "only 0.0% of its 16 INRs reached the fit target" in lines[0] and "Traceback" not in out.stderr
    assert '"met_min_reached": false' in out.stdout and "reached the fit target" not in out.stdout  # said once
    assert read_manifest(tmp_path / "z")["summary"]["met_min_reached"] is False


@pytest.mark.parametrize("field", [False, True])
def test_shape_zoo_records_exact_shape_parameters(tmp_path, field):
    from dws_edit.data.shapes import Shape

    source = ShapeSource(field=field, per_family=2, points=256)
    out = tmp_path / "zoo"
    fit_zoo(source, out, FitOptions.for_source(source, max_steps=30, shard_size=4, min_reached=0.0), progress=False)
    zoo = load_zoo(out, "all")
    assert len(zoo) == 2 * len(source.families) and zoo.spec.layer_sizes[-1] == (4 if field else 1)
    assert zoo.manifest["error_metric"] == "rmse" and zoo.manifest["source"]["kind"] == ("fields" if field else "sdf")
    families = [m["family"] for m in zoo.meta]
    assert torch.equal(zoo.labels, torch.tensor([source.families.index(f) for f in families]))
    # the metadata rebuilds each INR's shape exactly, and its edited variants from it
    points = torch.rand(64, 3) * 2 - 1
    for i, meta in zip(zoo.index.tolist(), zoo.meta):
        torch.testing.assert_close(Shape.from_dict(meta).sdf(points), source.shape(i).sdf(points))
    mug = next(Shape.from_dict(m) for m in zoo.meta if m["family"] == "mug")
    assert "handle" in mug.part_names and "handle" not in mug.without("handle").part_names


def test_shape_zoo_at_another_width_fits_that_spec_and_the_default_keeps_old_manifests(tmp_path):
    source = ShapeSource(families=("mug",), per_family=2, points=128, hidden=(8, 8))
    fit_zoo(source, tmp_path / "zoo", FitOptions.for_source(source, max_steps=5, min_reached=0.0), progress=False)
    zoo = load_zoo(tmp_path / "zoo", "all")
    assert zoo.spec.layer_sizes == (3, 8, 8, 1) and zoo.manifest["source"]["hidden"] == [8, 8]
    assert "hidden" not in ShapeSource().describe()  # zoos fitted before the option resume
    with pytest.raises(ValueError, match="--hidden 8 0: expected one or more widths >= 1"):
        fit_zoo(ShapeSource(hidden=(8, 0)), tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()


def test_image_source_keeps_the_first_items_of_each_official_split():
    full = ImageSource(dataset="fashion-mnist").load()
    x, y, split = ImageSource(dataset="fashion-mnist", train_count=50, val_count=10, test_count=20).load()
    assert [(split == s).sum().item() for s in range(3)] == [40, 10, 20]
    n_train = (full[2] != 2).sum().item()
    assert torch.equal(x[:50], full[0][:50]) and torch.equal(x[50:], full[0][n_train : n_train + 20])
    assert torch.equal(y[50:], full[1][n_train : n_train + 20])
    source = ImageSource(dataset="fashion-mnist", train_count=50, val_count=10, test_count=20)
    assert source.describe()["train_count"] == 50 and source.size() == 70


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dataset="digits", train_count=10), "only for data sets with an official test split"),
        (dict(dataset="fashion-mnist", test_count=0), "positive"),
        (dict(dataset="fashion-mnist", train_count=100, val_count=100), "leaves no training items"),
    ],
)
def test_image_source_counts_that_cannot_work_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImageSource(**kwargs).load()
