"""``dws-edit bench edit --domain sdf|field``: the shipped 3-D edits on held-out shapes, all methods in one run.

For each shipped SDF (or field) edit model, on the zoo's test split, against the edit's exact target (the
functional target of :mod:`dws_edit.edits`; for ``remove_part`` the generator's shape without the part):

- identity, the ``FlatMLPEditNet`` baseline (``checkpoints/baselines/`` or ``runs/<model>-mlp``), the DWS model,
  fine-tuning (Adam on the target at fixed points) at several step budgets, and the hybrid (DWS, then steps);
- MSE at the evaluation points (half near the surface; the quantity fine-tuning minimises, so the time ratio at
  equal error is read on it) and volumetric IoU on a 128^3 grid (:func:`dws_edit.metrics.occupancy_iou`; 64^3
  for the points of the fine-tuning curve and the hybrid; smooth, whose exact target costs 729 evaluations a
  point: 32^3 with a 7^3 quadrature, also for its meshes);
- for the first few INRs, Chamfer distance between 64^3 marching-cubes meshes of the edited INR and of the exact
  target, and the source INR's own fitting error (Chamfer of its mesh to the generator's shape);
- fields: PSNR of volume-rendered views against views of the exact target;
- the generic edits on INRs (SDFs, or colored fields of one color a mesh) fitted to held-out meshes the generator
  cannot make (:mod:`dws_edit.data.mesh_set`), reported apart; for SDFs also on SIRENs fitted to the same meshes
  by other code (:mod:`dws_edit.bench.other_fits`: the SIREN paper's and DeepSDF's recipes, imported as a user's
  file is).
"""

from __future__ import annotations

import warnings
from functools import cached_property
from pathlib import Path

import torch

from dws_edit.bench.common import (
    default_edit,
    finetune,
    mse_at,
    speed_at_equal_mse,
    timed,
    worse_count,
)
from dws_edit.bench.other_fits import DOMAINS as OTHER_FIT_DOMAINS
from dws_edit.bench.table3d import print_table
from dws_edit.checkpoints import available_models, checkpoint_dir, load_checkpoint, trained_fixed
from dws_edit.console import console
from dws_edit.data import load_zoo
from dws_edit.data.shapes import Shape
from dws_edit.edits import get_edit
from dws_edit.edits.targets import PART_GROUPS, without_group
from dws_edit.inr import evaluate
from dws_edit.inr.domains import get_domain
from dws_edit.metrics import chamfer_distance, occupancy, occupancy_iou, psnr
from dws_edit.metrics import iou as metrics_iou
from dws_edit.render import (
    inr_to_mesh,
    level_set_mesh,
    render_field_views,
    render_mesh_views,
    save_image_grid,
    shape_to_mesh,
)
from dws_edit.runner import DEFAULT_LR, edit_targets, run_edit_model
from dws_edit.tasks.edit import with_shapes
from dws_edit.weights import WeightSpace


def baseline_3d(name: str):
    """The FlatMLPEditNet baseline of a 3-D model: shipped (``checkpoints/baselines/<name>-mlp``) or, as 3-D
    baselines are not shipped (checkpoints/ stays under 50 MB), the training run ``runs/<name>-mlp/best.safetensors``
    (``bash scripts/train_3d_baselines.sh``); None, with a printed note saying how to train it, if neither."""
    shipped = checkpoint_dir() / "baselines" / f"{name}-mlp.safetensors"
    run = Path("runs") / f"{name}-mlp" / "best.safetensors"
    for path in (shipped, run):
        if path.exists():
            return load_checkpoint(path)
    console.print(f"{name}: no FlatMLPEditNet baseline ({shipped} or {run}); its MLP columns stay empty "
                  "(`bash scripts/train_3d_baselines.sh` trains the 3-D baselines, a few minutes each)")  # fmt: skip
    return None


class Bench3D:
    """Runs the 3-D part of :class:`~dws_edit.bench.edit.BenchEdit` with its configuration ``cfg``."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.domain = cfg.domain

    def models(self) -> dict[str, dict]:
        shipped = {n: c for n, c in available_models().items() if c.get("domain") == self.domain}
        names = list(self.cfg.models) or list(shipped)
        unknown = [n for n in names if n not in shipped]
        if unknown or not names:
            raise ValueError(
                f"no shipped {self.domain} edit model {unknown or ''}; available: {', '.join(shipped) or 'none'}"
            )
        return {n: shipped[n] for n in names}

    def bench_one(self, name: str, card: dict) -> dict:
        cfg = self.cfg
        model = load_checkpoint(checkpoint_dir() / f"{name}.safetensors")
        baseline = baseline_3d(name)
        edit = get_edit(card["edit"])
        test = load_zoo(card["data"]["zoo"], "test")
        ws, part_shapes = with_shapes(edit, test, cfg.count)
        shapes = part_shapes or [Shape.from_dict(m) for m in test.meta[: cfg.count]]  # the generator's shapes
        options = edit.target_options(self.domain, "exact", part_shapes)
        console.print(f"[bold]{name}[/]: {ws.batch_size} test INRs of {card['data']['zoo']}")
        g = torch.Generator().manual_seed(cfg.seed)
        fixed = trained_fixed(card)  # a union model is measured against the union target
        params = edit.sample(ws.batch_size, g, self.domain, part_shapes, fixed=fixed)
        cond = edit.encode(params, self.domain, batch=ws.batch_size) if edit.cond_dim(self.domain) else None
        coords = get_domain(self.domain).edit_points(ws, cfg.points, g)
        target = edit_targets(edit, ws, coords, params, self.domain, **options)

        def target_fn(p, ws=ws):
            with torch.no_grad():
                return edit.target(lambda c: evaluate(ws, c), p, params, self.domain, **options)

        # the target's occupancy once per grid; an integral target (smooth): 32^3 and the domain's "grid" quadrature
        # (its exact target costs 729 evaluations a point)
        res = 32 if edit.quadrature else cfg.iou_resolution
        grid_options = edit.target_options(self.domain, "grid", part_shapes)
        grid_fn = lambda p: edit.target(lambda c: evaluate(ws, c), p, params, self.domain, **grid_options)  # noqa: E731
        targets = {}

        def iou_per(w: WeightSpace, resolution: int = res) -> torch.Tensor:
            if resolution not in targets:
                targets[resolution] = occupancy(grid_fn, self.domain, resolution)
            return metrics_iou(occupancy(lambda p: evaluate(w, p), self.domain, resolution), targets[resolution])

        iou = lambda w, resolution=res: iou_per(w, resolution).mean().item()  # noqa: E731
        out = {"edit": edit.name, "zoo": card["data"]["zoo"], "inrs": ws.batch_size, "iou_resolution": res}
        per = {"identity": iou_per(ws)}
        with torch.no_grad():
            dws_ws, out["dws_seconds"] = timed(lambda: run_edit_model(model, ws, cond, edit, params))
        per["dws"] = iou_per(dws_ws)
        out["identity_mse"], out["dws_mse"] = mse_at(ws, coords, target), mse_at(dws_ws, coords, target)
        if not edit.from_generator:  # what dws_edit.edit returns: the pass, the domain's refine steps, the guard
            guarded, out["guarded_seconds"] = timed(lambda: default_edit(model, ws, edit, params), repeats=1)
            per["guarded"] = iou_per(guarded)
            out["guarded_mse"] = mse_at(guarded, coords, target)
            out["guarded_worse"] = worse_count(per["guarded"], per["identity"])
        mlp_ws = None
        if baseline is not None:
            with torch.no_grad():
                mlp_ws, out["mlp_seconds"] = timed(lambda: baseline(ws, cond))
            out["mlp_mse"], per["mlp"] = mse_at(mlp_ws, coords, target), iou_per(mlp_ws)
            out["mlp_baseline"] = {"command": baseline.card.get("command"),
                                   "parameters": sum(p.numel() for p in baseline.parameters())}  # fmt: skip
        out |= {f"{key}_iou": v.mean().item() for key, v in per.items()}
        out["changed"] = changed_subset(per)
        measure = lambda w: (mse_at(w, coords, target), iou(w))  # noqa: E731
        refit_ws = None
        if edit.from_generator:  # the ceiling: the edited shapes fitted as the zoo fits its own
            refit, refit_ws = self._refit(test.manifest, ws, part_shapes, params, measure)
            out |= refit
        if edit.exact_form and not fixed:  # the closed form, where one exists (symmetrize: the average only)
            out |= self._exact(edit.name, ws, params, measure)
        curve, out["finetune"] = [], []
        for steps in cfg.finetune_steps:
            tuned, secs = finetune(ws, coords, target, steps, cfg.finetune_lr)
            curve.append((secs, mse_at(tuned, coords, target)))
            out["finetune"].append(
                {"steps": steps, "seconds": secs, "mse": curve[-1][1], "iou_64": iou(tuned, min(res, 64))}
            )
        out["hybrid"], out["hybrid_lr"] = [], cfg.hybrid_lr or DEFAULT_LR[self.domain]
        for steps in cfg.hybrid_steps:
            tuned, secs = finetune(dws_ws, coords, target, steps, out["hybrid_lr"])
            seconds, mse = out["dws_seconds"] + secs, mse_at(tuned, coords, target)
            out["hybrid"].append({"steps": steps, "seconds": seconds, "mse": mse, "iou_64": iou(tuned, min(res, 64))})
        out |= speed_at_equal_mse(curve, out["dws_mse"], out["identity_mse"], out["dws_seconds"])
        out["removed"] = 1 - out["dws_mse"] / out["identity_mse"]

        def targets_of(lo: int, hi: int):
            """The exact edit of INRs ``lo`` to ``hi - 1`` alone (meshing or rendering a few INRs must not evaluate
            all of them; smooth with the grid's quadrature)."""
            p_s = {k: v[lo:hi] if torch.is_tensor(v) and v.shape[0] > 1 else v for k, v in params.items()}
            o_s = {k: v[lo:hi] if isinstance(v, list) else v for k, v in grid_options.items()}
            w_s = ws[lo:hi]

            def fn(p):
                with torch.no_grad():
                    return edit.target(lambda c: evaluate(w_s, c), p, p_s, self.domain, **o_s)

            return fn

        def one_target(i: int):
            f = targets_of(i, i + 1)
            return lambda p: f(p)[0]

        out["meshes"] = self._meshes(name, ws, dws_ws, mlp_ws, shapes, one_target)
        if get_domain(self.domain).rendered:  # views of the exact edit rendered once, of the first mesh_count INRs
            k = min(cfg.mesh_count, ws.batch_size)
            inrs = {"identity": ws, "dws": dws_ws} | ({"mlp": mlp_ws} if mlp_ws is not None else {})
            inrs |= {"refit": refit_ws} if refit_ws is not None else {}
            out |= view_psnrs(targets_of(0, k), {key: w[:k] for key, w in inrs.items()})
        if not edit.from_generator:  # the generic edits
            out["held_out_meshes"] = self._held_out(edit, model, baseline, fixed=fixed)
            if self.domain in OTHER_FIT_DOMAINS and cfg.other_fit_steps:
                out["other_fits"] = {recipe: self._held_out(edit, model, baseline, fits[:2], fits[2], fixed)
                                     for recipe, fits in self._other_fits.items()}  # fmt: skip
        return out

    def _refit(self, manifest: dict, ws: WeightSpace, shapes: list, params: dict, measure) -> tuple[dict, WeightSpace]:
        """remove_part's ceiling: INRs of the zoo's spec fitted from scratch to the exact edited shapes with the
        zoo's own recipe (its sample points, Adam steps, learning rate and early stop; ``ShapeSource.fit_batch``),
        so as faithful to the edited shapes as the zoo's INRs are to theirs (``manifest``: the zoo's).
        ``measure(ws) -> (MSE, IoU)``; returns the measurements and the refitted INRs."""
        from dws_edit.data.sources import ShapeSource
        from dws_edit.inr import fit

        src, opts = manifest["source"], manifest["fit"]
        source = ShapeSource(families=tuple(src["families"]), points=src["points"], field=src["field"],
                             target_rmse=src["target_rmse"])  # fmt: skip
        groups = list(PART_GROUPS)
        edited = [without_group(s, groups[int(k)]) for s, k in zip(shapes, params["part"].tolist(), strict=True)]
        batch = source.fit_batch(edited, [self.cfg.seed * 7_000_003 + i for i in range(len(edited))])
        result, seconds = timed(lambda: fit(ws.spec, batch.coords, batch.targets, source.target_mse,
                                            opts["max_steps"], opts["lr"], seed=self.cfg.seed, chunk=opts["chunk"]),
                                repeats=1)  # fmt: skip
        mse, iou = measure(result.ws)
        return {"refit_mse": mse, "refit_iou": iou, "refit_seconds": seconds}, result.ws

    def _exact(self, name: str, ws: WeightSpace, params: dict, measure) -> dict:
        """The edit's closed form in weight space (``dws_edit.edit(..., exact=True)``, e.g. symmetrize: hidden widths
        double), on the same INRs with the same parameters: ``measure(ws) -> (MSE, IoU)`` and its wall time."""
        from dws_edit.api import edit as api_edit

        keys = list(params)  # symmetrize: the axis (and the mode) per INR, choices as integers
        values = torch.stack([params[k].expand(ws.batch_size) for k in keys], dim=1)

        def run() -> WeightSpace:
            parts, order = [], []
            for row in values.unique(dim=0):  # the closed form takes one choice of each per call
                idx = (values == row).all(1).nonzero().flatten()
                parts.append(api_edit(ws[idx], name, exact=True, **dict(zip(keys, map(int, row.tolist())))))
                order.append(idx)
            return WeightSpace.cat(parts)[torch.cat(order).argsort()]

        with torch.no_grad():
            exact_ws, seconds = timed(run)
        mse, iou = measure(exact_ws)
        return {"exact_mse": mse, "exact_iou": iou, "exact_seconds": seconds}

    def _meshes(self, name, ws, dws_ws, mlp_ws, shapes, one_target) -> dict:
        """Chamfer distances (64^3 meshes) for the first ``mesh_count`` INRs, and the before/after figure."""
        k = min(self.cfg.mesh_count, ws.batch_size)
        rows, stats = [], {"dws": [], "identity": [], "mlp": [], "source_fit": []}
        for i in range(k):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    target_i = one_target(i)
                    exact = level_set_mesh(lambda p, t=target_i: get_domain(self.domain).level(t(p)), 64)
                    meshes = {"identity": inr_to_mesh(ws[i : i + 1]), "dws": inr_to_mesh(dws_ws[i : i + 1])}
                    if mlp_ws is not None:
                        meshes["mlp"] = inr_to_mesh(mlp_ws[i : i + 1])
                except ValueError:  # an edited INR without a surface: Chamfer undefined, counted apart
                    stats.setdefault("no_surface", 0)
                    stats["no_surface"] = stats["no_surface"] + 1
                    continue
            for key, mesh in meshes.items():
                stats[key].append(chamfer_distance(mesh, exact))
            stats["source_fit"].append(chamfer_distance(meshes["identity"], shape_to_mesh(shapes[i], 64)))
            if len(rows) < 4:
                rows.append([render_mesh_views(m, 1, 96)[0] for m in (meshes["identity"], exact, meshes["dws"])])
        if rows:
            images = torch.stack([img for row in zip(*rows) for img in row])  # rows: source, exact, DWS
            save_image_grid(images, self.cfg.out / f"{name}-before-after.png", columns=len(rows), scale=1)
        return {f"{k}_chamfer": sum(v) / len(v) for k, v in stats.items() if isinstance(v, list) and v} | {
            "count": k, "no_surface": stats.get("no_surface", 0)}  # fmt: skip

    @cached_property
    def _held_out_inrs(self) -> tuple[list[str], WeightSpace]:
        """The held-out meshes' names and their INRs, fitted once per bench, so every model edits the same ones."""
        from dws_edit.api import fit_shape
        from dws_edit.data.mesh_set import held_out_shapes

        shapes = held_out_shapes()
        fits = [fit_shape(s, max_steps=self.cfg.mesh_fit_steps, points=16384, field=get_domain(self.domain).rendered)
                for s in shapes.values()]  # fmt: skip
        return list(shapes), WeightSpace.cat(fits)

    @cached_property
    def _other_fits(self) -> dict[str, tuple[list[str], WeightSpace, WeightSpace]]:
        """recipe -> the held-out meshes' names, their SDF SIRENs fitted by other code
        (:func:`~dws_edit.bench.other_fits.fit_siren_sdf`, each recipe of :data:`~dws_edit.bench.other_fits.RECIPES`,
        ``cfg.other_fit_steps`` steps) and those INRs refitted (:func:`dws_edit.runner.refit`, ``cfg.mesh_fit_steps``
        steps), made once per bench; their fidelity (IoU with each mesh; the refit's with the INR it refits; 64^3)
        is printed."""
        from dws_edit.bench.other_fits import RECIPES, fit_siren_sdf
        from dws_edit.data.mesh_set import held_out_meshes, held_out_shapes
        from dws_edit.runner import refit

        meshes, shapes = held_out_meshes(), held_out_shapes()
        out = {}
        for recipe in RECIPES:
            fits = [fit_siren_sdf(m, recipe, steps=self.cfg.other_fit_steps) for m in meshes.values()]
            ws = WeightSpace.cat(fits)
            fidelity = [occupancy_iou(lambda p, w=w: evaluate(w, p), lambda p, s=s: s.sdf(p)[None, :, None], "sdf", 64)
                        for w, s in zip(fits, shapes.values(), strict=True)]  # fmt: skip
            refitted, seconds = timed(lambda ws=ws: refit(ws, steps=self.cfg.mesh_fit_steps), repeats=1)
            same = occupancy_iou(lambda p, r=refitted: evaluate(r, p), lambda p, ws=ws: evaluate(ws, p), "sdf", 64)
            console.print(f"held-out meshes fitted by other code ({recipe}, {self.cfg.other_fit_steps} steps): IoU "
                          f"with the meshes {torch.cat(fidelity).mean().item():.3f}; refitted ({seconds:.1f} s for "
                          f"{ws.batch_size}): IoU with them {same.mean().item():.3f} (64^3)")  # fmt: skip
            out[recipe] = (list(meshes), ws, refitted)
        return out

    def _held_out(self, edit, model, baseline=None, fitted=None, refitted=None, fixed=None) -> dict:
        """The edit on INRs (width 32, SDFs or colored fields as the model's domain) fitted to the held-out meshes
        of :mod:`dws_edit.data.mesh_set` (``fitted``: (names, WeightSpace); default: fitted as ``fit_mesh`` fits a
        user's mesh), ``cfg.held_out_draws`` random edit parameters per mesh: IoU against the exact edit (per mesh:
        the mean over its draws), and for fields PSNR of rendered views; the same for the FlatMLPEditNet
        ``baseline`` where there is one (``mlp_*`` keys), and for ``refitted`` (the same INRs refitted) the DWS
        edit of the refit against the exact edit of the INRs as given (``refit_dws_*`` keys). ``fixed``: what the
        model was trained with fixed (``trained_fixed``)."""
        names, ws = fitted or self._held_out_inrs
        draws = self.cfg.held_out_draws
        ws = WeightSpace.cat([ws] * draws)  # draw d of mesh i is INR d * len(names) + i
        domain = self.domain
        g = torch.Generator().manual_seed(self.cfg.seed + 5)
        params = edit.sample(ws.batch_size, g, domain, fixed=fixed)
        cond = edit.encode(params, domain, batch=ws.batch_size) if edit.cond_dim(domain) else None
        options = edit.target_options(domain, "grid")

        def target_fn(p):
            with torch.no_grad():
                return edit.target(lambda c: evaluate(ws, c), p, params, domain, **options)

        res = 32 if edit.quadrature else self.cfg.iou_resolution
        with torch.no_grad():
            inrs = {"identity": ws, "dws": run_edit_model(model, ws, cond, edit, params)}
            if baseline is not None:
                inrs["mlp"] = baseline(ws, cond)
            if refitted is not None:
                refitted = WeightSpace.cat([refitted] * draws)
                inrs["refit_dws"] = run_edit_model(model, refitted, cond, edit, params)
        if not edit.from_generator:
            inrs["guarded"] = default_edit(model, ws, edit, params)
        iou = lambda w: occupancy_iou(lambda p: evaluate(w, p), target_fn, domain, res)  # noqa: E731
        per = {key: iou(w) for key, w in inrs.items()}
        per_mesh = per["dws"].view(draws, len(names)).mean(0)
        out = {"meshes": names, "draws": draws} | {f"{key}_iou": v.mean().item() for key, v in per.items()}
        out |= {"guarded_worse": worse_count(per["guarded"], per["identity"])} if "guarded" in per else {}
        out |= {"per_mesh_dws_iou": dict(zip(names, per_mesh.tolist(), strict=True)), "changed": changed_subset(per)}
        if get_domain(domain).rendered:
            out |= view_psnrs(target_fn, inrs)
        return out


CHANGED_IOU = 0.99
"""An INR counts as changed by its edit when its source's IoU with the exact target is below this: the edit moves at
least 1% of the union of the two occupancies. Random boxes and spheres often miss the shape, where no edit is
already right, so the mean over all INRs hides how much better than no edit a model is where the edit acts; the
mean over the changed ones shows it."""


def changed_subset(per: dict[str, torch.Tensor]) -> dict:
    """``per``: ``{"identity": [B], "dws": [B], ...}`` IoUs per INR. Returns ``{"inrs": n, "<key>_iou": mean}`` over the
    INRs whose identity IoU is below :data:`CHANGED_IOU` (means None when there are none)."""
    changed = per["identity"] < CHANGED_IOU
    n = int(changed.sum())
    return {"inrs": n, "threshold": CHANGED_IOU} | {
        f"{key}_iou": v[changed].mean().item() if n else None for key, v in per.items()}  # fmt: skip


def view_psnrs(target_fn, inrs: dict[str, WeightSpace]) -> dict[str, float]:
    """``{"<key>_psnr": dB}``: the mean PSNR of volume-rendered views (:func:`~dws_edit.render.render_field_views`)
    of each set of field INRs in ``inrs`` against the same views of ``target_fn`` (points [M, 3] -> [B, M, 4]),
    which is rendered once."""
    target_views = render_field_views(target_fn)
    return {f"{key}_psnr": psnr(render_field_views(lambda p, w=w: evaluate(w, p)), target_views).mean().item()
            for key, w in inrs.items()}  # fmt: skip


def run_3d(cfg) -> dict[str, dict]:
    """Measure every selected 3-D model; print the table; return ``{model: measurements}``."""
    bench = Bench3D(cfg)
    rows = {name: bench.bench_one(name, card) for name, card in bench.models().items()}
    print_table(rows, cfg.domain)
    return rows
