"""``dws-edit bench nerf``: NeRFs trained from images by nerfstudio (``ns-train dws-nerf``), edited by ``ns-edit``
and rendered by ``ns-render``, against the exactly edited scene, with the baselines in the same run.

Per scene (procedural shapes drawn with a seed the zoos never used, and held-out meshes of
:mod:`dws_edit.data.mesh_set`; none in any training split): ``dws-edit``'s scene and, per edit, its exactly edited
scene (:mod:`dws_edit.data.scenes`); ``ns-train dws-nerf`` on the scene (its wall time, and its test PSNR through
``ns-render dataset``); then per edit:

- ``ns-edit --method dws-EDIT`` and ``ns-render dataset`` of the edited run: its test PSNR against the exactly
  edited scene, beside the unedited run's against the same;
- the exact weight-space edit where one exists (``symmetrize-exact``), through the same commands;
- in this process: the model's pass alone (no refine steps, no guard) and the hybrid (``ns-edit --refine-steps
  100``), so that what the learned pass adds over the refine steps is seen;
- two fine-tuning baselines, in this process and timed alone, their PSNR against the exactly edited scene's test
  views by the scene's own renderer (:func:`dws_edit.render.volume_render`) every few steps, beside the DWS edit's
  PSNR by that renderer: (a) render-and-fine-tune, Adam on the photometric loss of rays of the exactly edited
  scene's training views (what an editor that renders does), and (b) distillation, Adam on the edit's functional
  target at 3-D points (:func:`dws_edit.runner.refine`, ``ns-edit --method finetune-EDIT``); each one's time to
  reach the DWS edit's PSNR and its ratio to the DWS edit's time (the edit inside ns-edit, nerfstudio's import
  excluded).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.table import Table

from dws_edit.console import console
from dws_edit.records import atomic_write_json, run_record

SHAPES = ("mug", "table", "chair", "car")
HYBRID_STEPS = 100
"""Refine steps of the hybrid row (the pass, then these steps, then the guard)."""
RENDER_FINETUNE_LR = 1e-3
"""Adam's rate of the render-and-fine-tune baseline: ns-train dws-nerf's."""


@dataclass
class BenchNerf:
    """Train dws-nerf runs on unseen scenes, edit them with ns-edit, compare with exact edits and fine-tuning.

    All against the exactly edited scenes (PSNR of test views)."""

    scenes: tuple[str, ...] = ("mug", "table", "chair", "car", "vase", "dumbbell", "bracket", "star_prism")
    """Procedural families (drawn with --seed) and held-out meshes (dws_edit.data.mesh_set)."""
    edits: tuple[str, ...] = ("symmetrize", "remove")
    """Learned edits to measure, with their 3-D example parameters (dws-edit models list)."""
    symmetrize_modes: tuple[str, ...] = ("average",)
    """symmetrize's forms to measure, a row each (dws_edit.edits.targets.combine_mirrored): average, union (a
    field's density max, the denser side's colors), intersection."""
    seed: int = 100
    """Seed of the procedural shapes (the zoos draw theirs from seed 0)."""
    size: int = 64
    """Scene views are SIZE x SIZE pixels."""
    iterations: int = 2500
    """ns-train iterations per scene."""
    hidden: tuple[int, ...] = (32, 32)
    """Hidden widths of the dws-nerf field."""
    solid_steps: int | None = None
    """dws-nerf's solid start (``--pipeline.model.solid-steps``; default: the method's, 1,000; 0: off): the training's
    density scale rises from --solid-scale to the run's over these iterations (docs/nerf.md, "Solid start")."""
    solid_scale: float | None = None
    """The density scale at the first iteration (default: the method's, 10)."""
    finetune_steps: tuple[int, ...] = (25, 50, 100, 200, 400, 800)
    """Steps at which the fine-tuning baselines' PSNR is measured."""
    rays: int = 1024
    """Rays per render-and-fine-tune step (ns-train dws-nerf's batch)."""
    work: Path = Path("runs/bench-nerf")
    """Scenes, runs and renders go here (reused: a scene or run already there is not made again)."""
    out: Path | None = None
    """Optional JSON file for the results."""

    def run(self) -> dict:
        from dws_edit.checks import at_least, positive_number
        from dws_edit.edits import REGISTRY

        if self.solid_steps is not None:
            at_least("--solid-steps", self.solid_steps, 0)
        if self.solid_scale is not None:
            positive_number("--solid-scale", self.solid_scale)
        started, rows = time.time(), []
        from dws_edit.edits.targets import SYMMETRIZE_MODES

        for mode in self.symmetrize_modes:
            if mode not in SYMMETRIZE_MODES:
                raise ValueError(f"--symmetrize-modes {mode}: accepted: {', '.join(SYMMETRIZE_MODES)}")
        for name in self.edits:
            if REGISTRY.get(name) is None or "field" not in REGISTRY[name].domains or not REGISTRY[name].examples:
                raise ValueError(f"--edits {name}: accepted: learned edits of fields with a scene target")
        self.work.mkdir(parents=True, exist_ok=True)
        for scene in self.scenes:
            rows.extend(self._scene(scene))
        self._print(rows)
        result = run_record("dws-edit", self.seed, started, bench="nerf", rows=rows, summary=_summary(rows))
        if self.out:
            atomic_write_json(self.out, result)
        return result

    # ------------------------------------------------------------------ one scene
    def _shape(self, scene: str):
        from dws_edit.data.mesh_set import held_out_shapes
        from dws_edit.data.shapes import sample_shape

        if scene in SHAPES:
            return sample_shape(scene, torch.Generator().manual_seed(self.seed))
        meshes = held_out_shapes()
        if scene not in meshes:
            raise ValueError(f"--scenes {scene}: accepted: {', '.join(SHAPES + tuple(meshes))}")
        return meshes[scene]

    def _cases(self) -> list[tuple[str, str, dict]]:
        """(label, edit, parameters) of each row of a scene: every edit at its 3-D example, an edit with forms
        (symmetrize's mode) once per --symmetrize-modes form (labelled EDIT-MODE but for the default form)."""
        from dws_edit.edits import REGISTRY

        cases = []
        for name in self.edits:
            params, forms = dict(REGISTRY[name].examples["field"]), REGISTRY[name].mode_param("field")
            default = forms.choices[0] if forms else None
            for mode in self.symmetrize_modes if forms else (default,):
                plain = mode == default
                cases.append((name if plain else f"{name}-{mode}", name, params if plain else params | {"mode": mode}))
        return cases

    def _make(self, scene: str, shape, edit: str | None, params: dict, label: str | None = None) -> Path:
        from dws_edit.data.scenes import SceneViews, scene_field, write_scene

        folder = self.work / "scenes" / (scene if edit is None else f"{scene}-{label or edit}")
        if not (folder / "transforms_test.json").is_file():
            write_scene(folder, scene_field(shape, edit, params), SceneViews(size=self.size),
                        {"bench": "nerf", "scene": scene, "edit": edit, "params": params}, overwrite=True)  # fmt: skip
        return folder

    def _ns(self, *args) -> tuple[str, float]:
        started = time.perf_counter()
        command = [str(Path(sys.executable).parent / str(args[0])), *map(str, args[1:])]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.work)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {(done.stderr or done.stdout).strip()[-2000:]}")
        return done.stdout + done.stderr, time.perf_counter() - started

    def _train(self, scene: str, data: Path) -> tuple[Path, float]:
        config = self.work / "outputs" / scene / "dws-nerf" / "base" / "config.yml"
        if config.is_file() and (config.parent / "train_seconds.json").is_file():
            return config, json.loads((config.parent / "train_seconds.json").read_text())["seconds"]
        _, seconds = self._ns("ns-train", "dws-nerf", "--data", data.resolve(), "--output-dir", "outputs",
                              "--experiment-name", scene, "--timestamp", "base", "--max-num-iterations",
                              self.iterations, "--optimizers.fields.scheduler.max-steps", self.iterations,
                              "--pipeline.model.hidden", *self.hidden, "--vis", "tensorboard",
                              *self._solid())  # fmt: skip
        (config.parent / "train_seconds.json").write_text(json.dumps({"seconds": seconds}))
        return config, seconds

    def _solid(self) -> list:
        out = [] if self.solid_steps is None else ["--pipeline.model.solid-steps", self.solid_steps]
        return out + ([] if self.solid_scale is None else ["--pipeline.model.solid-scale", self.solid_scale])

    def _render_psnr(self, config: Path, truth: Path, tag: str) -> float:
        folder = self.work / "renders" / tag
        self._ns("ns-render", "dataset", "--load-config", config.resolve(), "--split", "test", "--image-format", "png",
                 "--output-path", folder.resolve())  # fmt: skip
        return _psnr(sorted((folder / "test" / "rgb").glob("*.png")), truth)

    def _scene(self, scene: str) -> list[dict]:
        from dws_edit.data.scenes import read_scene_split
        from dws_edit.edits import REGISTRY
        from dws_edit.inr.nerf_runs import load_nerf

        shape = self._shape(scene)
        data = self._make(scene, shape, None, {})
        config, train_seconds = self._train(scene, data)
        psnr_train = self._render_psnr(config, data, f"{scene}-base-own")
        source = load_nerf(config)
        profile = density_profile(source, shape)
        console.print(f"{scene}: trained {psnr_train:.2f} dB in {train_seconds:.0f} s; density {profile}")
        rows = []
        for label, name, params in self._cases():
            truth = self._make(scene, shape, name, params, label)
            test_images, test_c2w, _ = read_scene_split(truth, "test")
            unedited = self._render_psnr(config, truth, f"{scene}-base")
            row = {"scene": scene, "edit": label, "params": params, "train_seconds": train_seconds,
                   "trained_psnr": psnr_train, "unedited_psnr": unedited, "density": profile}  # fmt: skip
            options = [w for k, v in params.items() for w in (f"--{k}", *map(str, v if isinstance(v, tuple) else [v]))]
            dash = lambda text: text.replace("_", "-")  # noqa: E731
            edited = self._ns_edit(config, scene, f"dws-{dash(name)}", options, f"dws-{dash(label)}")
            record = json.loads((edited.parent / "dws_edit.json").read_text())
            row |= {"dws_psnr": self._render_psnr(edited, truth, f"{scene}-dws-{label}"),
                    "dws_seconds": record["seconds"], "guard": (record.get("guard") or {}).get("outcome")}  # fmt: skip
            if REGISTRY[name].exact_form and label == name:  # the closed form is of the default form only
                method = REGISTRY[name].exact_form.replace("_", "-")
                exact = self._ns_edit(config, scene, method, options, method)
                row["exact_psnr"] = self._render_psnr(exact, truth, f"{scene}-exact-{label}")
            dws_ours = _field_psnr(load_nerf(edited), test_c2w, test_images, self.size)
            row["dws_psnr_scene_renderer"] = dws_ours
            row |= _pass_and_hybrid(source, name, params, test_c2w, test_images, self.size)
            unedited_ours = _field_psnr(source, test_c2w, test_images, self.size)
            row["unedited_psnr_scene_renderer"] = unedited_ours
            row["target_psnr_scene_renderer"] = _target_psnr(source, name, params, test_c2w, test_images, self.size)
            row |= self._baselines(source, name, params, truth, (test_c2w, test_images), unedited_ours, dws_ours,
                                   record["seconds"])  # fmt: skip
            rows.append(row)
            console.print(json.dumps(row, default=str))
        return rows

    def _ns_edit(self, config: Path, scene: str, method: str, options: list[str], timestamp: str) -> Path:
        self._ns("ns-edit", "--method", method, "--load-config", config.resolve(), "--output-dir", "outputs",
                 "--experiment-name", scene, "--timestamp", timestamp, "--overwrite", *options)  # fmt: skip
        return self.work / "outputs" / scene / "dws-nerf" / timestamp / "config.yml"

    # ------------------------------------------------------------------ the fine-tuning baselines
    def _baselines(self, source, name, params, truth, test, unedited, dws_psnr, dws_seconds) -> dict:
        """Distillation and render-and-fine-tune from ``source``: PSNR curves on ``test`` (poses, images) and the
        time each needs to reach ``dws_psnr`` (0 when the unedited field's ``unedited`` PSNR already does)."""
        from dws_edit.bench.common import time_to_reach
        from dws_edit.data.scenes import read_scene_split
        from dws_edit.runner import refine

        test_c2w, test_images = test
        out = {}
        curve, spent, ws = [], 0.0, source
        for steps, previous in zip(self.finetune_steps, (0, *self.finetune_steps)):
            t = time.perf_counter()
            ws = refine(source, ws, name, params, steps - previous, seed=steps)
            spent += time.perf_counter() - t
            curve.append((spent, -_field_psnr(ws, test_c2w, test_images, self.size)))
        out["distill_curve"] = [(s, -p) for s, p in curve]
        train_images, train_c2w, _ = read_scene_split(truth, "train")
        curve, spent, ws = [], 0.0, source.to(torch.float32)
        params_t = [t.clone().requires_grad_(True) for t in (*ws.weights, *ws.biases)]
        opt = torch.optim.Adam(params_t, lr=RENDER_FINETUNE_LR)
        rays_o, rays_d, colors = _scene_rays(train_c2w, train_images, self.size)
        generator = torch.Generator().manual_seed(0)
        done = 0
        for steps in self.finetune_steps:
            t = time.perf_counter()
            for _ in range(steps - done):
                pick = torch.randint(len(rays_o), (self.rays,), generator=generator)
                field = _weight_space(ws, params_t)
                rgb = _render_batch(field, rays_o[pick], rays_d[pick])
                loss = (rgb - colors[pick]).square().mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            spent += time.perf_counter() - t
            done = steps
            curve.append((spent, -_field_psnr(_weight_space(ws, params_t).detach(), test_c2w, test_images, self.size)))
        out["render_finetune_curve"] = [(s, -p) for s, p in curve]
        for key in ("distill", "render_finetune"):  # the unedited run already as close: no time needed (ratio 0)
            reach = 0.0 if unedited >= dws_psnr else time_to_reach([(s, -p) for s, p in out[f"{key}_curve"]], -dws_psnr)
            out[f"{key}_seconds_to_dws_psnr"] = reach
            out[f"{key}_speedup"] = None if reach is None else reach / max(dws_seconds, 1e-9)
        return out

    def _print(self, rows: list[dict]) -> None:
        table = Table(title="dws-nerf runs edited (test PSNR dB against the exactly edited scene)")
        for col in ("scene", "edit", "trained", "unedited", "DWS", "pass alone", "hybrid", "exact", "target of the run",
                    "DWS s", "render-FT x", "distill x"):  # fmt: skip
            table.add_column(col)
        for r in rows:
            table.add_row(r["scene"], r["edit"], f"{r['trained_psnr']:.2f}", f"{r['unedited_psnr']:.2f}",
                          f"{r['dws_psnr']:.2f}", _number(r["pass_psnr_scene_renderer"]),
                          f"{r['hybrid_psnr_scene_renderer']:.2f}",
                          f"{r['exact_psnr']:.2f}" if "exact_psnr" in r else "-",
                          f"{r['target_psnr_scene_renderer']:.2f}", f"{r['dws_seconds']:.2f}",
                          _ratio(r["render_finetune_speedup"]), _ratio(r["distill_speedup"]))  # fmt: skip
        console.print(table)
        for key, value in _summary(rows).items():
            console.print(f"{key}: {value}")


def _number(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def _ratio(x) -> str:
    return "never" if x is None else f"{x:.1f}x"


def _summary(rows: list[dict]) -> dict:
    out = {}
    for edit in sorted({r["edit"] for r in rows}):
        rs = [r for r in rows if r["edit"] == edit]
        keys = ("unedited_psnr", "dws_psnr", "trained_psnr", "target_psnr_scene_renderer", "pass_psnr_scene_renderer",
                "hybrid_psnr_scene_renderer")  # fmt: skip
        out[edit] = {k: float(np.mean([r[k] for r in rs])) for k in keys if all(r[k] is not None for r in rs)}
        out[edit]["scenes"] = len(rs)
        if all("exact_psnr" in r for r in rs):
            out[edit]["exact_psnr"] = float(np.mean([r["exact_psnr"] for r in rs]))
    return out


def density_profile(ws, shape, points: int = 200_000, seed: int = 0) -> dict:
    """Where a trained field puts its density: the median density at uniform points of [-1, 1]^3 inside the true
    shape (sdf < 0) and just outside it (0.02 < sdf < 0.1), and the 99.9th percentile over the cube, against the
    fitted fields' 1 inside and 0 outside (``sigmoid(-50 sdf)``)."""
    from dws_edit.inr.evaluate import evaluate

    p = torch.rand(points, 3, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    with torch.no_grad():
        d, sdf = evaluate(ws.to(torch.float32), p)[0, :, 0], shape.sdf(p)
    inside, near = d[sdf < 0], d[(sdf > 0.02) & (sdf < 0.1)]
    median = lambda x: float(x.median()) if len(x) else float("nan")  # noqa: E731
    return {"inside_median": median(inside), "near_outside_median": median(near),
            "cube_p999": float(d.quantile(0.999))}  # fmt: skip


def _psnr(files: list[Path], truth_folder: Path) -> float:
    from PIL import Image

    from dws_edit.data.scenes import read_scene_split

    truth = read_scene_split(truth_folder, "test")[0]
    if len(files) != len(truth):
        raise RuntimeError(f"{len(files)} renders for {len(truth)} test views of {truth_folder}")
    images = torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255)
                          for f in files])  # fmt: skip
    return float(-10 * torch.log10((images - truth).square().mean()))


def _scene_rays(c2w: torch.Tensor, images: torch.Tensor, size: int):
    from dws_edit.data.scenes import SCENE_FOV
    from dws_edit.render import camera_rays

    origins, dirs = zip(*(camera_rays(pose[:3, 3], size, SCENE_FOV) for pose in c2w))
    return torch.cat(origins), torch.cat(dirs), images.reshape(-1, 3)


def _render_batch(ws, origins, dirs) -> torch.Tensor:
    from dws_edit.inr.evaluate import evaluate
    from dws_edit.render import render_rays

    return render_rays(lambda p: evaluate(ws, p), origins, dirs, samples=64)[0]


def _field_psnr(ws, c2w, images, size: int) -> float:
    """PSNR (dB) of ONE field INR's views from cameras ``c2w`` against ``images``, by the scenes' renderer."""
    from dws_edit.inr.evaluate import evaluate

    ws = ws.to(torch.float32)
    return _views_psnr(lambda p: evaluate(ws, p), c2w, images, size)


def _pass_and_hybrid(ws, name: str, params: dict, c2w, images, size: int) -> dict:
    """The learned edit of ONE field ``ws`` in this process: the model's pass alone (no refine, no guard), and the
    hybrid (the pass, :data:`HYBRID_STEPS` refine steps, the guard: ``ns-edit --refine-steps 100``), each one's PSNR
    against ``images`` by the scenes' renderer and its seconds. The pass alone is None (not run) for a mode the
    model was not trained on (a symmetrize union from the average model): then its pass is only the guard's start."""
    import warnings

    from dws_edit.api import edit
    from dws_edit.checkpoints import model_for, training_notes
    from dws_edit.edits import REGISTRY

    card = getattr(model_for(ws.spec, name, params=params), "card", None)
    untrained_mode = training_notes(card, REGISTRY[name], params, "field")[0]
    out = {"pass_seconds": None, "pass_psnr_scene_renderer": None}
    for key, options in (("pass", {"guard": None}), ("hybrid", {"refine": HYBRID_STEPS})):
        if key == "pass" and untrained_mode:
            continue
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the guard's warning: the bench records its outcome
            edited = edit(ws, name, **options, **params)
        out[f"{key}_seconds"] = time.perf_counter() - started
        out[f"{key}_psnr_scene_renderer"] = _field_psnr(edited, c2w, images, size)
    return out


def _target_psnr(ws, name: str, params: dict, c2w, images, size: int) -> float:
    """PSNR (dB) of the edit's exact functional target OF THE RUN'S FIELD ``ws`` (what a perfect weight-space edit
    of it would render) against the exactly edited scene's ``images``: the ceiling of any edit of the run, which
    falls short of the scene where the edit shows what no training view constrained (a removed box exposes the
    run's interior)."""
    from dws_edit.edits import REGISTRY
    from dws_edit.runner import edit_targets

    ws, edit = ws.to(torch.float32), REGISTRY[name]
    options = edit.target_options("field", "grid")  # an integral target (smooth) by the benches' grid quadrature
    return _views_psnr(lambda p: edit_targets(edit, ws, p, params, "field", **options), c2w, images, size)


def _views_psnr(fn, c2w, images, size: int) -> float:
    """PSNR (dB) of the views of ONE field ``fn`` (points [M, 3] -> [1, M, 4]) from ``c2w`` against ``images``."""
    from dws_edit.data.scenes import SceneViews, render_scene_views

    with torch.no_grad():
        rendered = render_scene_views(fn, c2w, SceneViews(size=size))
    return float(-10 * torch.log10((rendered - images).square().mean()))


def _weight_space(ws, tensors):
    from dws_edit.weights import WeightSpace

    n = len(ws.weights)
    return WeightSpace(ws.spec, tuple(tensors[:n]), tuple(tensors[n:]))
