"""Training one-pass edit models (``dws-edit train edit``) with the functional loss.

The edited INR, evaluated at the edit's sample points (every pixel for images; ``Domain.edit_points``), is
compared with the edit's target computed from the source INR (``dws_edit.edits``): no edited data set is
stored. The zoo's train split trains, a fixed subset of its validation split (and of each extra zoo's) picks the best
model; the test split is only for reported numbers (``dws_edit.tasks.evaluate``). The same config trains the DWS model
and the ``FlatMLPEditNet`` baseline with the same data and budget.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from dws_edit.checkpoints import accepts_of, save_checkpoint
from dws_edit.console import console
from dws_edit.data import load_zoo
from dws_edit.data.zoo import manifest_sha256
from dws_edit.edits import EDITS, EditDef, affine, cube_symmetries, get_edit
from dws_edit.edits.targets import part_group_of
from dws_edit.inr import evaluate
from dws_edit.inr.domains import get_domain
from dws_edit.io import sha256_hex
from dws_edit.nn import DWSEditNet, EditNet, FlatMLPEditNet
from dws_edit.records import command_line
from dws_edit.runner import edit_targets, edited_values
from dws_edit.tasks.loop import BEST, LoopConfig, StepBatch, train
from dws_edit.tasks.pretrain import start_from_encoder
from dws_edit.tasks.recipes import run_recipe_command
from dws_edit.weights import WeightSpace


@dataclass
class TrainEdit:
    """Train a one-pass edit model (DWS or the flat-MLP baseline) on a zoo with the functional loss."""

    edit: str = "symmetrize"
    """The edit to learn (see dws_edit.edits.EDITS): smooth, symmetrize, remove, remove_sphere, remove_part, dilate."""
    zoo: Path = Path("zoos/fmnist")
    """Zoo folder to train on (train split) and choose the model on (validation split)."""
    extra_zoo: tuple[Path, ...] = ()
    """More zoos whose train splits are added to the training INRs (the same INR spec; e.g. Fashion-MNIST INRs
    for MNIST dilation, an edit defined on any image). Validation, statistics and the test split stay ZOO's."""
    model: Literal["dws", "mlp"] = "dws"
    """dws: DWSEditNet (equivariant); mlp: FlatMLPEditNet (the baseline)."""
    hidden: int = 32
    """Channels of each DWS layer (dws)."""
    depth: int = 4
    """DWS layers (dws) or MLP layers (mlp)."""
    mlp_hidden: int = 512
    """Width of the MLP's hidden layers (mlp)."""
    outputs: int = 2
    """Output-capacity expansion k: the model emits k networks whose outputs are averaged (hidden widths x k)."""
    keep: bool = False
    """The edited INR keeps the source network unchanged and adds the k networks' average as a correction,
    f' = f + (1/k) sum_j g_j (hidden widths x (k + 1)); the corrections start near zero (EditNet's ``keep``), so
    the surface outside the edited region stays where it was unless a correction reaches it. Further passes
    (``passes``) edit the whole wider INR, the kept block included."""
    film: bool = False
    """dws: the edit's parameters also gate every DWS layer multiplicatively (FiLM), not only as a bias."""
    skip: bool = False
    """dws: a DWS layer from the input straight to the residual, an exact path for edits linear in the weights."""
    probes: int = 0
    """dws: probe points per axis (probes^d0 in all, on a grid over [-1, 1]^d0): every hidden neuron's activations
    there feed the first DWS layer, gated per probe by the edit's parameters (dws_edit.nn.probes; 0: off)."""
    gradient: bool = False
    """dws: the model also takes the gradient of the edit's functional MSE at the source weights (what fine-tuning's
    first step follows), as a second input channel (GradMetaNet's idea); the edit then costs one backward pass
    through the INR more. Not for remove_part (its target is not computed from the INR)."""
    passes: int = 1
    """dws with --gradient: edit passes; each after the first is one more DWSEditNet that takes the previous pass's
    output and the loss gradient there (a learned optimizer unrolled PASSES steps; one backward pass through the
    INR each)."""
    init: Path | None = None
    """Start from this checkpoint's weights (e.g. a shipped model; the same model options, except that PASSES may
    be higher: the added passes start near the identity)."""
    init_encoder: Path | None = None
    """dws: start the DWS layers from an encoder of dws-edit train classify|ssl (dws_edit.tasks.pretrain)."""
    scale_lr: float = 1.0
    """Learning-rate multiplier of the residual's per-tensor scales (they start at 1e-3 and an edit such as a
    mirror needs them near 1: Adam moves a parameter about lr per step, so at 1 they need ~1,000 steps)."""
    augment: bool = True
    """A fresh random permutation of every training INR's hidden neurons (the function is unchanged)."""
    symmetries: float = 0.0
    """Fraction of training INRs turned by a random symmetry of the cube [-1, 1]^d0 (axes permuted, signs flipped:
    8 in 2-D, 48 in 3-D), exact in the first layer (dws_edit.edits.exact.cube_symmetries); their targets are
    computed from the turned INRs, so the data grows by up to that factor (0: off). Not for remove_part, whose
    targets are the generator's upright shapes."""
    sign_flips: float = 0.0
    """Sine networks' sign symmetry as augmentation: every hidden neuron of every training INR is negated (its
    incoming weights, bias and outgoing weights; the INR's function is unchanged) with this probability (0: off;
    0.5: a uniformly random sign pattern). The DWS layers are equivariant to permutations only; another fitter may
    land on any sign pattern of the same function, and this shows the model such copies."""
    mixup: float = 0.0
    """Weight-space mixup: this fraction of each batch is replaced by interpolations
    l * W_a + (1 - l) * W_b of two training INRs (l uniform in [0, 1], every tensor alike); their targets are
    computed from the interpolated INR itself, so they are exact training examples of INRs unlike the zoo's
    (0: off; not for remove_part, whose targets are the generator's shapes)."""
    train_count: int | None = None
    """Use only the first TRAIN_COUNT training INRs (all by default)."""
    val_count: int = 512
    """Validation INRs used to pick the best model."""
    points: int = 4096
    """3-D zoos: sample points per INR and step, half of them near its surface (image zoos: the 28x28 grid)."""
    clamp: float = 0.0
    """sdf: compare predicted and target SDF values clamped to [-CLAMP, CLAMP] (DeepSDF's delta, Park et al. 2019);
    field: the density clamped to [1/2 - CLAMP, 1/2 + CLAMP] (CLAMP <= 1/2; the colors as they are): the loss and
    the best model's choice weigh the surface band, where IoU and Chamfer are decided (0: off; not for images)."""
    target_near: float = 0.0
    """3-D: fraction of the sample points drawn near the *target's* surface (the edited shape), taken from the
    ``near`` half (0: all near the source's surface)."""
    mode: str | None = None
    """An edit with modes (symmetrize: average, union, intersection; dws_edit.edits.targets.combine_mirrored): the
    form of the target to learn (default: the edit's default, average); the card's ``modes`` names it."""
    wide_params: bool = False
    """Sample the edit's parameters from the wide ranges (boxes of sides 0.1 to 2: slabs, halves, the whole cube;
    balls of radius 0.05 to 1.2 centered anywhere in the cube; dws_edit.edits.registry) instead of the shipped
    models' trained ranges; the card says ``wide_params`` (no range warning inside them)."""
    smooth_samples: int = 8
    """smooth: training targets are unbiased Monte Carlo estimates with this many Gaussian offsets per INR
    (validation and evaluation use the exact quadrature)."""
    loop: LoopConfig = field(default_factory=LoopConfig)
    """Optimisation, schedule, checkpoints."""
    out: Path | None = None
    """Run folder (default runs/<zoo>-<edit>-<model>); rerun to resume. With --recipe: the folder of its stages'
    run folders (default runs)."""
    recipe: str | None = None
    """Train a shipped model's named recipe (dws_edit.tasks.recipes): its stages one after another into
    runs/<stage>, each as its flags there say (rerun to continue; finished stages are skipped); 'list' prints them.
    Only --zoo (in place of every stage's zoo and extra zoos), --out, --threads and --recipe-steps go with it."""
    recipe_steps: int | None = None
    """With --recipe: at most this many steps a stage (a quick trial of the whole chain)."""

    def run(self) -> dict:
        """Train (or, with ``--recipe``, run the recipe: stage name -> results); returns the results."""
        if self.recipe is not None:
            return run_recipe_command(self)
        if self.recipe_steps is not None:
            raise ValueError(f"--recipe-steps {self.recipe_steps}: goes with --recipe (set --steps for one run)")
        return self.train()

    def identity_config(self) -> dict:
        """What of the run's identity this config decides: the task, its options (not --out, nor the recipe
        options) and the SHA-256 of the --init file when it exists (the loop adds its own config; ``train`` the
        data's checksums)."""
        config = json.loads(json.dumps(asdict(self), default=str))  # paths as strings
        for key in ("out", "recipe", "recipe_steps"):
            config.pop(key)
        defaults = (("mode", None), ("wide_params", False), ("sign_flips", 0.0), ("mixup", 0.0), ("init_encoder", None))
        for key, default in defaults:  # at the default: runs before them resume
            if config[key] == default:
                config.pop(key)
        identity = {"task": "edit", "config": config}
        if self.init is not None and Path(self.init).is_file():  # a rerun resumes only from the same --init file
            identity["init_sha256"] = sha256_hex(Path(self.init).read_bytes())
        return identity

    def train(self, recipe: dict | None = None) -> dict:
        """Train one run into ``out`` (see :func:`dws_edit.tasks.loop.train`); ``recipe`` (``{"name", "stage"}``,
        when a recipe runs it) goes into the model card. Returns the results. Raises ValueError (one line, before
        anything is written) for a bad option or zoo."""
        self.loop.check()  # before the zoo loads
        if self.loop.device != "cpu":
            raise ValueError(f"--device {self.loop.device}: edit training runs on the CPU (its data lives there)")
        out = self.out or Path("runs") / f"{self.zoo.name}-{self.edit}-{self.model}"
        task = EditTask(self)
        identity = {**self.identity_config(), "zoo_sha256": task.zoo_sha256}
        if task.extra_sha256:  # and only on the same extra zoos
            identity["extra_zoo_sha256"] = task.extra_sha256
        if task.started_from:
            identity["init_sha256"] = task.started_from["sha256"]

        def save(path: Path, modules: dict) -> None:
            card = task.card(out) | ({"recipe": recipe} if recipe else {})
            save_checkpoint(path, modules["model"], task.model_kwargs, card)

        results = train(task, self.loop, out, identity, save_model=save)
        if results["best_val_score"] is not None:  # rank 0 validates
            console.print(f"best model: {out / BEST} (validation MSE {results['best_val_score']:.4g})")
        return results


class EditTask:
    """The loop's task for edit training: batches, functional loss, validation."""

    def __init__(self, cfg: TrainEdit):
        self.cfg = cfg
        self.edit = get_edit(cfg.edit, "learned")
        self.fixed = {"mode": cfg.mode} if cfg.mode is not None else None  # the form of the target learned
        if self.fixed and self.edit.mode_param(self.edit.domains[0]) is None:
            with_modes = [n for n in EDITS if EDITS[n].mode_param(EDITS[n].domains[0])]
            raise ValueError(f"--mode {cfg.mode}: {cfg.edit} has no modes; accepted: edits {', '.join(with_modes)}")
        if not 0.0 <= cfg.symmetries <= 1.0:
            raise ValueError(f"--symmetries {cfg.symmetries}: expected a fraction in [0, 1]")
        if cfg.symmetries:  # turned INRs need targets computed from them, not the generator's upright shapes
            self.edit.check_from_source(f"--symmetries {cfg.symmetries}")
        for flag, value in (("--sign-flips", cfg.sign_flips), ("--mixup", cfg.mixup)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{flag} {value}: expected a fraction in [0, 1]")
        if cfg.mixup:  # interpolated INRs have no procedural shape
            self.edit.check_from_source(f"--mixup {cfg.mixup}")
        train, val = load_zoo(cfg.zoo, "train"), load_zoo(cfg.zoo, "val")
        self.spec, self.zoo_sha256 = train.spec, manifest_sha256(cfg.zoo)
        self.dom, self.domain = get_domain(self.spec), get_domain(self.spec).name
        self.edit.check_domain(self.domain)
        bounded = self.dom.inside_above  # a density in [0, 1]: the band fits around its threshold
        if cfg.clamp < 0 or (cfg.clamp and not self.dom.has_surface) or (bounded and cfg.clamp > self.dom.threshold):
            raise ValueError(f"--clamp {cfg.clamp}: expected 0 (off), or a band half-width > 0 for sdf zoos and in "
                             f"(0, 0.5] for field zoos (density); this zoo holds {self.domain} INRs")  # fmt: skip
        count = train.ws.batch_size if cfg.train_count is None else cfg.train_count
        self.train_ws, self.train_shapes = with_shapes(self.edit, train, count)
        self.extra_sha256 = {}
        extras = [self._extra(p) for p in cfg.extra_zoo]  # (train, val) of each: both join their main zoo's
        self.train_ws = WeightSpace.cat([self.train_ws, *(t for t, _ in extras)])
        self.coords = None if self.dom.has_surface else self.dom.edit_points(train.ws[:1], 0, None)  # the pixel grid
        cond_dim = self.edit.cond_dim(self.domain)
        torch.manual_seed(cfg.loop.seed)
        keep = {"keep": True} if cfg.keep else {}  # in the kwargs only when set: older cards stay as they were
        if cfg.model == "dws":
            self.model_kwargs = dict(hidden=cfg.hidden, depth=cfg.depth, cond_dim=cond_dim, outputs=cfg.outputs, **keep)
            self.model_kwargs.update({k: True for k in ("film", "skip") if getattr(cfg, k)})
            if cfg.probes:
                self.model_kwargs["probes"] = cfg.probes
            if cfg.gradient:
                self.edit.check_from_source("--gradient")
                self.model_kwargs["gradient"] = True
            if cfg.passes != 1:
                if not cfg.gradient:
                    raise ValueError(f"--passes {cfg.passes}: each pass takes the loss gradient; add --gradient")
                self.model_kwargs["passes"] = cfg.passes
            self.model: EditNet = DWSEditNet(self.spec, **self.model_kwargs)
        else:
            if cfg.gradient or cfg.probes or cfg.passes != 1:
                raise ValueError("--gradient, --probes and --passes are options of the DWS model; --model mlp (the "
                                 "weights-only baseline) takes none of them")  # fmt: skip
            self.model_kwargs = dict(hidden=cfg.mlp_hidden, depth=cfg.depth, cond_dim=cond_dim, outputs=cfg.outputs,
                                     **keep)  # fmt: skip
            self.model = FlatMLPEditNet(self.spec, **self.model_kwargs)
        if train.stats is None:
            raise ValueError(f"{cfg.zoo} has no statistics (stats.safetensors); rerun its fit command")
        self.model.set_stats(train.stats)
        init, kwargs = cfg.init, self.model_kwargs
        self.started_from = (start_from_encoder(self.model, cfg.init_encoder, init) if cfg.init_encoder
                             else start_from(self.model, init, kwargs) if init else None)  # fmt: skip
        # the fixed validation set: INRs, parameters, points and exact targets
        g = torch.Generator().manual_seed(12345)
        self.val_ws, val_shapes = with_shapes(self.edit, val, cfg.val_count)
        self.val_main = self.val_ws.batch_size  # then the extras' (no shapes: their targets come from the source)
        self.val_ws = WeightSpace.cat([self.val_ws, *(v for _, v in extras)])
        self.val_params = self._params(self.val_ws.batch_size, g, val_shapes)
        self.val_cond = self._cond(self.val_params, self.val_ws.batch_size)
        self.val_coords = self._points(self.val_ws, g)
        options = self.edit.target_options(self.domain, "exact", val_shapes)
        self.val_target = edit_targets(self.edit, self.val_ws, self.val_coords, self.val_params, self.domain, **options)
        with torch.no_grad():
            self.val_identity_each = (evaluate(self.val_ws, self.val_coords) - self.val_target).square().flatten(1)
            self.val_identity = self.val_identity_each.mean().item()
        self.started = time.time()

    def _extra(self, path: Path) -> tuple[WeightSpace, WeightSpace]:
        """The train split of one ``--extra-zoo`` and the first ``val_count`` INRs of its validation split, which
        join the fixed validation set (the best model is picked on INRs of every kind trained on); raises ValueError
        unless its INRs have the main zoo's spec."""
        self.edit.check_from_source("--extra-zoo (its INRs have no procedural shapes)")
        extra = load_zoo(path, "train")
        if extra.spec != self.spec:
            raise ValueError(f"--extra-zoo {path}: its INRs are {extra.spec.to_json()}, expected the spec of "
                             f"{self.cfg.zoo}: {self.spec.to_json()}")  # fmt: skip
        self.extra_sha256[str(path)] = manifest_sha256(path)
        return extra.ws, load_zoo(path, "val").ws[: self.cfg.val_count]

    def modules(self) -> dict[str, EditNet]:
        """The loop's modules (:class:`dws_edit.tasks.loop.Task`): the edit model."""
        return {"model": self.model}

    def optimizers(self) -> dict[str, list[dict]]:
        """The loop's optimizers: one AdamW over :meth:`param_groups`."""
        return {"model": self.param_groups()}

    def param_groups(self) -> list[dict]:
        """The optimizer's parameter groups: the residual's scales with their own learning-rate multiplier."""
        scales = [self.model.scale] + [r.scale for r in self.model.refiners or ()]  # every pass's
        rest = [p for p in self.model.parameters() if all(p is not s for s in scales)]
        return [{"params": rest}, {"params": scales, "lr_mult": self.cfg.scale_lr}]

    def _points(self, ws: WeightSpace, generator: torch.Generator, params=None, options=None) -> Tensor:
        if self.coords is not None:
            return self.coords
        m_target = int(round(self.cfg.points * self.cfg.target_near / 2)) if params is not None else 0
        points = self.dom.edit_points(ws, self.cfg.points - m_target, generator,
                                      near=(self.cfg.points / 2 - m_target) / (self.cfg.points - m_target))  # fmt: skip
        if not m_target:
            return points
        candidates = torch.rand(ws.batch_size, 4 * m_target, 3, generator=generator) * 2 - 1
        with torch.no_grad(), torch.autocast(ws.device.type, enabled=False):
            values = self.edit.target(lambda c: evaluate(ws, c), candidates, params, self.domain, **(options or {}))
        return torch.cat([points, self.dom.closest_to_surface(candidates, values, m_target, generator)], dim=1)

    def _loss_values(self, values: Tensor) -> Tensor:
        """Values ``[B, M, dL]`` as the loss compares them: the domain's surface band at ``clamp``."""
        return self.dom.band(values, self.cfg.clamp)

    def _params(self, n: int, generator: torch.Generator, shapes: list | None) -> dict[str, Tensor]:
        return self.edit.sample(n, generator, self.domain, shapes, wide=self.cfg.wide_params, fixed=self.fixed)

    def _cond(self, params: dict, n: int) -> Tensor | None:
        return self.edit.encode(params, self.domain, batch=n) if self.edit.cond_dim(self.domain) else None

    def train_size(self) -> int:
        return self.train_ws.batch_size

    def train_loss(self, batch: StepBatch) -> Tensor:
        idx, generator, n = batch.indices, batch.generator, len(batch.indices)
        ws = self.train_ws[idx]
        if self.cfg.mixup:
            ws = _mixup(ws, self.train_ws, self.cfg.mixup, generator)
        if self.cfg.symmetries:
            ws = affine(ws, cube_symmetries(n, ws.spec.layer_sizes[0], generator, self.cfg.symmetries))
        shapes = None if self.train_shapes is None else [self.train_shapes[i] for i in idx.tolist()]
        params = self._params(n, generator, shapes)
        options = self.edit.target_options(self.domain, "exact", shapes) if self.edit.from_generator else {}
        if self.edit.quadrature:  # training targets: unbiased Monte Carlo estimates of the integral
            options = {"samples": self.cfg.smooth_samples, "generator": generator}
        coords = self._points(ws, generator, params, options)
        if self.cfg.augment:
            ws = ws.permute(ws.random_permutations(generator))
        if self.cfg.sign_flips:
            flips = [torch.rand(n, d, generator=generator) < self.cfg.sign_flips for d in ws.spec.hidden_sizes]
            ws = ws.flip_signs([torch.where(f, -1.0, 1.0) for f in flips])
        with torch.no_grad(), torch.autocast(ws.device.type, enabled=False):
            target = self.edit.target(lambda c: evaluate(ws, c), coords, params, self.domain, **options)
        pred = edited_values(batch.nets["model"], ws, self._cond(params, n), coords, target)
        return (self._loss_values(pred) - self._loss_values(target)).square().mean()

    def validate(self) -> dict[str, float]:
        preds = []
        for lo in range(0, self.val_ws.batch_size, 256):
            cond = None if self.val_cond is None else self.val_cond[lo : lo + 256]
            coords = self.val_coords if self.val_coords.dim() == 2 else self.val_coords[lo : lo + 256]
            target = self.val_target[lo : lo + 256]
            preds.append(edited_values(self.model, self.val_ws[lo : lo + 256], cond, coords, target))
        pred = torch.cat(preds)
        err = (pred - self.val_target).square().flatten(1)
        mse = err.mean().item()
        out = {"score": mse, "mse": mse, "identity_mse": self.val_identity, "removed": 1 - mse / self.val_identity}
        if (n := self.val_main) < len(pred):  # the extra zoos' share of the error removed, apart
            out["removed_extra"] = 1 - err[n:].mean().item() / self.val_identity_each[n:].mean().item()
        if self.dom.has_surface:  # occupancy agreement at the validation points (half near the surface)
            a, b = self.dom.inside(pred), self.dom.inside(self.val_target)
            out["point_iou"] = ((a & b).sum() / (a | b).sum().clamp_min(1)).item()
            out["score"] = (self._loss_values(pred) - self._loss_values(self.val_target)).square().mean().item()
        return out

    def card(self, out: Path) -> dict:
        """The model card written with every saved model (quality on the test split is added by evaluation)."""
        manifest = load_zoo(self.cfg.zoo, "val").manifest
        s = self.spec
        return {
            "name": f"{self.domain}-{self.edit.name}",
            "edit": self.edit.name,
            "does": self.edit.describe(self.domain) + (f"; this model: mode {self.cfg.mode}" if self.cfg.mode else ""),
            "domain": self.domain,
            "model": type(self.model).__name__,
            "model_kwargs": self.model_kwargs,
            "accepts": accepts_of(s),
            **self._trained_on(),
            "command": command_line(),
            "data": {
                "zoo": str(self.cfg.zoo),
                "zoo_sha256": self.zoo_sha256,
                "source": manifest.get("source", {}),
                "train_inrs": self.train_ws.batch_size,
                **({"extra_zoos": self.extra_sha256} if self.extra_sha256 else {}),
            },
            "run": str(out),
            **({"started_from": self.started_from} if self.started_from else {}),
        }

    def _trained_on(self) -> dict:
        """The card's record of what the model learned beyond the edit: its ``modes`` (an edit with modes: the form
        of the target, issue 32) and ``wide_params`` (parameters drawn from the wide ranges)."""
        out = {"wide_params": True} if self.cfg.wide_params else {}
        if (mode := self.edit.mode_param(self.domain)) is not None:
            out["modes"] = [mode.choices[int(mode.canonical(self.cfg.mode or mode.default, "--mode")[0])]]
        return out


def start_from(model: EditNet, path: Path, kwargs: dict) -> dict:
    """Load the weights of the checkpoint at ``path`` into ``model`` (built with ``kwargs``): the checkpoint's
    model options must be the same but for ``passes``, every tensor of it must fit; only added refinement passes
    (``refiners.*``) may be missing, and keep their near-identity start (they take no probe features). The checkpoint's
    weight statistics (the units its weights learned in) are kept, for the added passes too. Returns the
    record the new model's card keeps (the file, its SHA-256, the command that trained it, and that model's own
    ``started_from`` if it had one). Raises ValueError
    naming the file for any other mismatch."""
    from dws_edit.checkpoints import card_lineage, load_checkpoint
    from dws_edit.records import git_revision  # the file may be overwritten later (a shipped one, by publishing)

    source = load_checkpoint(path)
    state = source.state_dict()
    own = model.state_dict()
    bad = sorted(k for k, v in state.items() if k not in own or own[k].shape != v.shape)
    missing = sorted(k for k in own if k not in state and not k.startswith("refiners."))
    options = [{k: v for k, v in d.items() if k != "passes"} for d in (source.card.get("model_kwargs", {}), kwargs)]
    if bad or missing or type(source) is not type(model) or options[0] != options[1]:
        raise ValueError(
            f"--init {path}: a {type(source).__name__} of other options than this run's {type(model).__name__} "
            f"({len(bad)} tensors differ, {len(missing)} missing); only --passes may be higher"
        )
    model.load_state_dict(state, strict=False)
    model.set_stats(model.normalizer.stats)
    sha256 = sha256_hex(Path(path).read_bytes())
    record = {"checkpoint": str(path), "sha256": sha256, "command": source.card.get("command"), "git": git_revision()}
    if lineage := card_lineage(Path(path), source.card):  # the whole lineage: that model's own --init, and so on
        record["started_from"] = lineage
    return record


def _mixup(ws: WeightSpace, pool: WeightSpace, fraction: float, generator: torch.Generator) -> WeightSpace:
    """``ws`` with about ``fraction`` of its networks replaced by ``l * ws[i] + (1 - l) * pool[j]`` (j random,
    l uniform in [0, 1] per network; ``--mixup``)."""
    n = ws.batch_size
    mixed = torch.rand(n, generator=generator) < fraction
    lam = torch.where(mixed, torch.rand(n, generator=generator), torch.ones(n))
    other = pool[torch.randint(0, pool.batch_size, (n,), generator=generator)]
    return ws.zip_map(other, lambda a, b: torch.lerp(b, a, lam.view(-1, *[1] * (a.dim() - 1)).to(a)))


def with_shapes(edit: EditDef, split, count: int) -> tuple[WeightSpace, list | None]:
    """The first ``count`` INRs of a zoo split and, for an edit whose target comes from the generator
    (``remove_part``), their procedural shapes: only the INRs of shapes that have a removable part group are kept.
    Raises ValueError for a zoo without shape metadata."""
    if not edit.from_generator:
        return split.ws[:count], None
    from dws_edit.data.shapes import Shape

    families = [m.get("family") for m in split.meta] if split.meta else []
    keep = [i for i, f in enumerate(families) if f and part_group_of(f)][:count]
    if not keep:
        raise ValueError(
            "remove_part trains on a zoo of procedural shapes with parts (dws-edit fit shapes: mug, table, chair, "
            f"car); this zoo has none (families {sorted(set(map(str, families)))})"
        )
    return split.ws[torch.tensor(keep)], [Shape.from_dict(split.meta[i]) for i in keep]
