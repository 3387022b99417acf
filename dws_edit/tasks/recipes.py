"""The shipped models' training recipes as named presets: ``dws-edit train edit --recipe NAME``.

A recipe is a chain of stages; each stage is one training run, given as the values of its ``TrainEdit`` and
``LoopConfig`` fields (what its command line's flags set; fields not named keep their defaults), run into
``runs/<stage name>``; a stage with ``init`` starts from that earlier stage's ``best.safetensors`` (``--init``).
Stages run one after another; a stage whose run folder holds the results of the same config is skipped, and a
killed stage resumes, so rerunning a recipe continues it. ``dws-edit train edit --recipe list`` prints every recipe
as the command lines of its stages.

Provenance notes (the cards' ``started_from`` record the exact files): several shipped models were started from
the *published* copy of their previous stage (the same weights, or the float16 copy) rather than from the run
folder; image-remove, image-symmetrize and image-smooth train on zoos/fmnist12k (the machine that retrained them had
no time for the full zoo; image-smooth's last stage also on zoos/fmnist5k-loop)
while their MLP baselines had the full zoos/fmnist and 5,000 to 7,000 steps; the 3-D
baselines (not shipped: the bench finds them in runs/) take the weights only, with the data, loss, output form,
batch, learning rate and steps of their DWS model's first stage (docs/models.md, "3-D edit models").
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dws_edit.console import console
from dws_edit.distributed import broadcast, is_lead, world_size
from dws_edit.tasks.loop import BEST, RESULTS, LoopConfig

LOOP_FIELDS = frozenset(f.name for f in dataclasses.fields(LoopConfig))


@dataclass(frozen=True)
class Stage:
    """One training run of a recipe: its run folder's name, its field values, the stage it starts from."""

    name: str
    """Run folder ``<runs>/<name>``; unique over all recipes."""
    flags: dict[str, Any] = field(default_factory=dict)
    """TrainEdit and LoopConfig field values (e.g. ``{"edit": "remove", "steps": 3000, "keep": True}``)."""
    init: str | None = None
    """An earlier stage of the same recipe whose best model this one starts from (``--init``)."""


def _stage(name: str, init: str | None = None, **flags: Any) -> Stage:
    return Stage(name, flags, init)


# image models: a one-pass model that takes the loss gradient, then a shorter two-pass run from it (docs/benchmarks.md,
# "Design levers"); image-smooth has a third, at a lower rate
_IMAGE = dict(batch_size=64, lr=1e-3, eval_every=500, outputs=2, gradient=True)
_IMAGE_P2 = dict(batch_size=64, lr=5e-4, eval_every=200, outputs=2, gradient=True, passes=2)
_IMAGE_MLP = dict(batch_size=64, lr=1e-3, eval_every=500, outputs=2, model="mlp", depth=3)
_FMNIST12K, _FMNIST, _MNIST5K = Path("zoos/fmnist12k"), Path("zoos/fmnist"), Path("zoos/mnist5k")
_MNIST_LOOP = (Path("zoos/mnist5k-loop"), Path("zoos/mnist5k-loop-s1"))  # fitted by the per-image loop (issue 32)
# 3-D models (zoos/sdf, zoos/fields: bash scripts/fit_zoos.sh): TWO emits two networks (--outputs 2); KEEP keeps the
# source network and learns one correction (the same 2x width); P2 continues a model with more passes; BAND is the
# surface-band loss (docs/models.md, "3-D edit models")
_SDF, _FIELDS = Path("zoos/sdf"), Path("zoos/fields")
_OTHER_SDF = (Path("zoos/sdf-deepsdf"),)  # SDFs fitted as other code fits them (--extra-zoo; issue 32)
_3D = dict(batch_size=32, points=2048, eval_every=500, val_count=256)
_TWO = dict(_3D, lr=1e-3, outputs=2)
_KEEP = dict(_3D, outputs=1, keep=True)
_P2 = dict(_3D, lr=5e-4, outputs=2, gradient=True)
_BAND = dict(clamp=0.05, target_near=0.5)
_FIELD_BAND = dict(clamp=0.4, target_near=0.5)
_MLP_3D = dict(_3D, lr=1e-3, model="mlp", depth=3, mlp_hidden=128)  # 0.33 M (keep) to 0.53 M parameters


def _image(edit: str, zoo: Path, steps: int, p2_steps: int) -> tuple[Stage, ...]:
    first = f"image-{edit}"
    return (
        _stage(first, edit=edit, zoo=zoo, steps=steps, **_IMAGE),
        _stage(f"{first}-p2", first, edit=edit, zoo=zoo, steps=p2_steps, **_IMAGE_P2),
    )


def _mlp_3d(name: str, zoo: Path, steps: int, keep: bool, **loss: Any) -> tuple[Stage, ...]:
    form = dict(outputs=1, keep=True) if keep else dict(outputs=2)
    return (_stage(f"{name}-mlp", edit=name.split("-")[1], zoo=zoo, steps=steps, **_MLP_3D, **form, **loss),)


def _union(domain: str, zoo: Path, **loss: Any) -> tuple[Stage, ...]:
    """symmetrize --mode union (issue 32: the average erases thin parts one side has): the average model's chain up to
    three passes (images: the image recipe's two stages), for union models to publish beside the average ones (a
    card's ``modes`` says which; ``dws_edit.edit`` picks by the asked mode). sdf-symmetrize-union was trained and
    measured (docs/benchmarks.md, "Ranges beyond training"), not shipped: with the guard it ended farther from the
    union than the average model's pass refined; the image and field ones are not trained yet."""
    first, union = f"{domain}-symmetrize-union", dict(edit="symmetrize", mode="union", zoo=zoo)
    if domain == "image":
        return (_stage(first, **union, steps=4000, **_IMAGE), _stage(f"{first}-p2", first, **union, steps=800,
                                                                     **_IMAGE_P2))  # fmt: skip
    return (
        _stage(first, **union, steps=2000, **_TWO, gradient=True),
        _stage(f"{first}-p2", first, **union, steps=1500, **_P2, passes=2, **loss),
        _stage(f"{first}-p3", f"{first}-p2", **union, steps=1200, **{**_P2, "eval_every": 300}, passes=3, **loss),
    )


def _wide(name: str, zoo: Path, keep: bool, extra: tuple[Path, ...] = (), **loss: Any) -> tuple[Stage, ...]:
    """``--wide-params`` (issue 32): the edit's parameters sampled from the wide ranges (boxes up to the whole cube,
    balls up to radius 1.2 centered anywhere in it), with the first stages of the shipped model's recipe and, given
    ``extra`` zoos, its mixed stage (1,000 steps on the zoo and INRs fitted as other code fits them)."""
    edit, first = name.split("-", 1)[1], f"{name}-wide"
    form = dict(_KEEP, lr=1e-3) if keep else _TWO
    later = dict(edit=edit, zoo=zoo, **{**form, "lr": 5e-4}, gradient=True, wide_params=True, **loss)
    stages = (
        _stage(first, edit=edit, zoo=zoo, steps=3000, **form, gradient=True, wide_params=True),
        _stage(f"{first}-band", first, steps=2000, **later),
    )
    if extra:
        stages += (_stage(f"{first}-mixed", f"{first}-band", steps=1000, **{**later, "eval_every": 250},
                          extra_zoo=extra),)  # fmt: skip
    return stages


# fmt: off
RECIPES: dict[str, tuple[Stage, ...]] = {
    "image-symmetrize": _image("symmetrize", _FMNIST12K, 4000, 800),
    "image-remove": _image("remove", _FMNIST12K, 4000, 1200),
    "image-smooth": (
        *_image("smooth", _FMNIST12K, 1500, 800),
        _stage("image-smooth-p2b", "image-smooth-p2", edit="smooth", zoo=_FMNIST12K, steps=800,
               **{**_IMAGE_P2, "lr": 3e-4}),
        _stage("image-smooth-mixed", "image-smooth-p2b", edit="smooth", zoo=_FMNIST12K, steps=1500,
               **{**_IMAGE_P2, "lr": 3e-4, "eval_every": 250}, extra_zoo=(Path("zoos/fmnist5k-loop"),)),
    ),
    "image-dilate": (
        *_image("dilate", _MNIST5K, 4000, 800),
        _stage("image-dilate-mixed", "image-dilate-p2", edit="dilate", zoo=_MNIST5K, steps=800, **_IMAGE_P2,
               extra_zoo=(Path("zoos/mnist5k-loop"),)),
        # issue 32: on both loop-fitted zoos (the second from other initialisations), then a third pass
        _stage("image-dilate-mixed-c", "image-dilate-mixed", edit="dilate", zoo=_MNIST5K, steps=1500,
               **{**_IMAGE_P2, "lr": 3e-4, "eval_every": 250}, extra_zoo=_MNIST_LOOP),
        _stage("image-dilate-p3", "image-dilate-mixed-c", edit="dilate", zoo=_MNIST5K, steps=800,
               **{**_IMAGE_P2, "lr": 3e-4, "passes": 3}, extra_zoo=_MNIST_LOOP),
    ),
    "image-symmetrize-mlp": (_stage("image-symmetrize-mlp", edit="symmetrize", zoo=_FMNIST, steps=7000, **_IMAGE_MLP),),
    "image-remove-mlp": (_stage("image-remove-mlp", edit="remove", zoo=_FMNIST, steps=7000, **_IMAGE_MLP),),
    "image-smooth-mlp": (_stage("image-smooth-mlp", edit="smooth", zoo=_FMNIST, steps=5000, **_IMAGE_MLP),),
    "image-dilate-mlp": (_stage("image-dilate-mlp", edit="dilate", zoo=_MNIST5K, steps=4000, **_IMAGE_MLP),),
    # sdf-symmetrize: 2,000 one-pass steps, a second pass, 1,500 steps with the band loss, then a third and a fourth
    # pass, 1,200 steps each
    "sdf-symmetrize": (
        _stage("sdf-symmetrize", edit="symmetrize", zoo=_SDF, steps=2000, **_TWO, gradient=True),
        _stage("sdf-symmetrize-p2", "sdf-symmetrize", edit="symmetrize", zoo=_SDF, steps=1000,
               **{**_P2, "eval_every": 200}, passes=2),
        _stage("sdf-symmetrize-band", "sdf-symmetrize-p2", edit="symmetrize", zoo=_SDF, steps=1500, **_P2, passes=2,
               **_BAND),
        _stage("sdf-symmetrize-p3", "sdf-symmetrize-band", edit="symmetrize", zoo=_SDF, steps=1200,
               **{**_P2, "eval_every": 300}, passes=3, **_BAND),
        _stage("sdf-symmetrize-p4", "sdf-symmetrize-p3", edit="symmetrize", zoo=_SDF, steps=1200,
               **{**_P2, "eval_every": 300}, passes=4, **_BAND),
        _stage("sdf-symmetrize-mixed", "sdf-symmetrize-p4", edit="symmetrize", zoo=_SDF, steps=1000,
               **{**_P2, "eval_every": 250}, passes=4, **_BAND, extra_zoo=_OTHER_SDF),
    ),
    # sdf-remove: a kept source plus one correction, then 3,000 steps at lr 5e-4, then 2,000 with the band loss
    "sdf-remove": (
        _stage("sdf-remove-keep", edit="remove", zoo=_SDF, steps=3000, lr=1e-3, **_KEEP, gradient=True),
        _stage("sdf-remove", "sdf-remove-keep", edit="remove", zoo=_SDF, steps=3000, lr=5e-4, **_KEEP, gradient=True),
        _stage("sdf-remove-band", "sdf-remove", edit="remove", zoo=_SDF, steps=2000, lr=5e-4, **_KEEP, gradient=True,
               **_BAND),
        _stage("sdf-remove-mixed", "sdf-remove-band", edit="remove", zoo=_SDF, steps=1000, lr=5e-4,
               **{**_KEEP, "eval_every": 250}, gradient=True, **_BAND, extra_zoo=_OTHER_SDF),
    ),
    "sdf-remove_part": (
        _stage("sdf-remove_part", edit="remove_part", zoo=_SDF, steps=4000, lr=1e-3, **_KEEP, **_BAND),
    ),
    "sdf-smooth": (_stage("sdf-smooth", edit="smooth", zoo=_SDF, steps=4000, **_TWO),),
    "sdf-remove_sphere": (
        _stage("sdf-remove_sphere", edit="remove_sphere", zoo=_SDF, steps=5000, lr=1e-3, **_KEEP, gradient=True),
        _stage("sdf-remove_sphere-band", "sdf-remove_sphere", edit="remove_sphere", zoo=_SDF, steps=2000, lr=5e-4,
               **_KEEP, gradient=True, **_BAND),
        _stage("sdf-remove_sphere-mixed", "sdf-remove_sphere-band", edit="remove_sphere", zoo=_SDF, steps=1000,
               lr=5e-4, **{**_KEEP, "eval_every": 250}, gradient=True, **_BAND, extra_zoo=_OTHER_SDF),
    ),
    "field-symmetrize": (
        _stage("field-symmetrize", edit="symmetrize", zoo=_FIELDS, steps=2000, **_TWO, gradient=True),
        _stage("field-symmetrize-p2", "field-symmetrize", edit="symmetrize", zoo=_FIELDS, steps=1000,
               **{**_P2, "eval_every": 200}, passes=2),
        _stage("field-symmetrize-p3", "field-symmetrize-p2", edit="symmetrize", zoo=_FIELDS, steps=1000,
               **{**_P2, "eval_every": 250}, passes=3),
    ),
    "field-remove": (
        _stage("field-remove", edit="remove", zoo=_FIELDS, steps=2000, **_TWO, gradient=True),
        _stage("field-remove-p2", "field-remove", edit="remove", zoo=_FIELDS, steps=1000,
               **{**_P2, "eval_every": 200}, passes=2),
    ),
    "field-remove_part": (
        _stage("field-remove_part", edit="remove_part", zoo=_FIELDS, steps=3000, lr=1e-3, **_KEEP, **_FIELD_BAND),
    ),
    "field-smooth": (_stage("field-smooth", edit="smooth", zoo=_FIELDS, steps=3000, **_TWO),),
    "field-remove_sphere": (
        _stage("field-remove_sphere", edit="remove_sphere", zoo=_FIELDS, steps=2000, **_TWO, gradient=True),
        _stage("field-remove_sphere-band", "field-remove_sphere", edit="remove_sphere", zoo=_FIELDS, steps=2000,
               **_P2, **_FIELD_BAND),
    ),
    # the 3-D FlatMLPEditNet baselines (runs/<model>-mlp, where `dws-edit bench edit --domain sdf|field` finds them)
    "sdf-remove-mlp": _mlp_3d("sdf-remove", _SDF, 3000, keep=True),
    "sdf-remove_sphere-mlp": _mlp_3d("sdf-remove_sphere", _SDF, 5000, keep=True),
    "sdf-symmetrize-mlp": _mlp_3d("sdf-symmetrize", _SDF, 2000, keep=False),
    "sdf-remove_part-mlp": _mlp_3d("sdf-remove_part", _SDF, 4000, keep=True, **_BAND),
    "sdf-smooth-mlp": _mlp_3d("sdf-smooth", _SDF, 4000, keep=False),
    "field-remove-mlp": _mlp_3d("field-remove", _FIELDS, 2000, keep=False),
    "field-remove_sphere-mlp": _mlp_3d("field-remove_sphere", _FIELDS, 2000, keep=False),
    "field-symmetrize-mlp": _mlp_3d("field-symmetrize", _FIELDS, 2000, keep=False),
    "field-remove_part-mlp": _mlp_3d("field-remove_part", _FIELDS, 3000, keep=True, **_FIELD_BAND),
    "field-smooth-mlp": _mlp_3d("field-smooth", _FIELDS, 3000, keep=False),
    "sdf-symmetrize-union-mlp": _mlp_3d("sdf-symmetrize-union", _SDF, 2000, keep=False, mode="union"),
    # issue 32: symmetrize's union mode and the wide parameter ranges (trained or not: see the helpers' docstrings)
    "image-symmetrize-union": _union("image", _FMNIST12K),
    "sdf-symmetrize-union": _union("sdf", _SDF, **_BAND),
    "field-symmetrize-union": _union("field", _FIELDS),
    "image-remove-wide": (
        _stage("image-remove-wide", edit="remove", zoo=_FMNIST12K, steps=4000, **_IMAGE, wide_params=True),
        _stage("image-remove-wide-p2", "image-remove-wide", edit="remove", zoo=_FMNIST12K, steps=1200, **_IMAGE_P2,
               wide_params=True),
    ),
    "sdf-remove-wide": _wide("sdf-remove", _SDF, keep=True, extra=_OTHER_SDF, **_BAND),
    "sdf-remove_sphere-wide": _wide("sdf-remove_sphere", _SDF, keep=True, **_BAND),
    "field-remove-wide": _wide("field-remove", _FIELDS, keep=False),
    "field-remove_sphere-wide": _wide("field-remove_sphere", _FIELDS, keep=False, **_FIELD_BAND),
}
# fmt: on
"""Recipe name (the shipped model's name, or its baseline's with ``-mlp``) -> its stages, in order."""


def get_recipe(name: str) -> tuple[Stage, ...]:
    """The stages of recipe ``name``; raises ValueError (one line, listing the names) for an unknown one."""
    if name not in RECIPES:
        raise ValueError(f"--recipe {name}: no such recipe; expected list or one of {', '.join(RECIPES)}")
    return RECIPES[name]


def stage_flags(
    stage: Stage,
    runs: Path = Path("runs"),
    zoo: Path | None = None,
    steps: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The field values of ``stage`` as ``(task fields, LoopConfig fields)``: its flags, then ``overrides`` (any
    field, every stage alike), ``zoo`` in place of its zoo and its extra zoos (``--extra-zoo``: INRs of the recipe's
    own data set), at most ``steps`` steps, and ``init`` the best model of the stage it starts from under ``runs``.
    (A field neither config has: the config's constructor raises
    TypeError; the recipes' test builds every stage.)"""
    flags = {**stage.flags, **(overrides or {})}
    if zoo is not None:
        flags["zoo"] = Path(zoo)
        flags.pop("extra_zoo", None)
    if steps is not None:
        flags["steps"] = min(flags.get("steps", LoopConfig.steps), steps)
    if stage.init is not None:
        flags["init"] = Path(runs) / stage.init / BEST
    task = {k: v for k, v in flags.items() if k not in LOOP_FIELDS}
    return task, {k: v for k, v in flags.items() if k in LOOP_FIELDS}


def _flag(name: str, value: Any) -> str:
    option = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return option if value else f"--no-{option[2:]}"
    if isinstance(value, tuple | list):  # a tuple field takes its values after one flag
        return " ".join([option, *map(str, value)])
    return f"{option} {value}"


def stage_command(stage: Stage, runs: Path = Path("runs"), program: str = "dws-edit train edit") -> str:
    """The command line that trains ``stage`` alone (its flags, ``--init`` and ``--out``)."""
    init = {"init": Path(runs) / stage.init / BEST} if stage.init else {}
    flags = [_flag(k, v) for k, v in {**stage.flags, **init}.items()]
    return " ".join([program, *flags, "--out", str(Path(runs) / stage.name)])


def describe(runs: Path = Path("runs")) -> str:
    """Every recipe and the command lines of its stages (what ``--recipe list`` prints)."""
    lines = []
    for name, stages in RECIPES.items():
        lines.append(f"{name} ({len(stages)} stage{'s' * (len(stages) > 1)})")
        lines += [f"  {stage_command(s, runs)}" for s in stages]
    return "\n".join(lines)


def _finished(cfg: Any, out: Path) -> bool:
    """Whether ``out`` holds the results of a run of ``cfg``: its results.json's identity has the config's loop
    and ``identity_config()`` (the init file's checksum included)."""
    try:
        identity = json.loads((out / RESULTS).read_text())["identity"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    wanted = {"loop": asdict(cfg.loop), **cfg.identity_config()}
    return all(identity.get(k) == json.loads(json.dumps(v)) for k, v in wanted.items())


def run_recipe(
    name: str,
    config_class: type,
    runs: Path = Path("runs"),
    zoo: Path | None = None,
    steps: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, dict]:
    """Train recipe ``name``'s stages one after another into ``runs/<stage>`` (under torchrun each stage's batch, the
    global one, is split over the processes); a stage already finished with the same
    config is skipped (its results read back), a killed one resumes.

    ``config_class``: the task's config (``TrainEdit``): built as ``config_class(**task fields,
    loop=LoopConfig(**loop fields), out=...)``, it has ``identity_config()`` and ``train(recipe=...)`` (the recipe
    record, ``{"name", "stage"}``, goes into the model card). ``zoo``, ``steps``, ``overrides``: as
    :func:`stage_flags` (a tiny zoo and a few steps for a test). Returns stage name -> its results. Raises
    ValueError for an unknown recipe, or from a stage's own checks."""
    stages = get_recipe(name)
    results = {}
    for i, stage in enumerate(stages, 1):
        task, loop = stage_flags(stage, runs, zoo, steps, overrides)
        loop["batch_size"] = _per_process(loop.get("batch_size", LoopConfig.batch_size), stage.name)
        out = Path(runs) / stage.name
        cfg = config_class(**task, loop=LoopConfig(**loop), out=out)
        if broadcast(_finished(cfg, out) if is_lead() else None):  # rank 0 reads the run folders
            console.print(f"recipe {name}, stage {i}/{len(stages)} {stage.name}: finished ({out / RESULTS}), skipped")
            results[stage.name] = json.loads((out / RESULTS).read_text()) if is_lead() else {}
            continue
        line = f"recipe {name}, stage {i}/{len(stages)} {stage.name}: {stage_command(stage, runs)}"
        console.print(line, highlight=False, soft_wrap=True)
        results[stage.name] = cfg.train(recipe={"name": name, "stage": stage.name})
    return results


def _per_process(batch: int, stage: str) -> int:
    """A stage's batch per process: under torchrun the recipe's batch is the global one, split over the processes
    (ValueError, one line, when it does not split evenly)."""
    if batch % world_size():
        raise ValueError(f"stage {stage}: its batch of {batch} INRs does not split over {world_size()} processes; "
                         "accepted: a number of processes that divides it")  # fmt: skip
    return batch // world_size()


RECIPE_OPTIONS = ("recipe", "recipe_steps", "zoo", "out", "threads")
"""The options that go with ``--recipe`` on a command line; a recipe sets every other one."""


def run_recipe_command(cfg: Any) -> dict[str, dict]:
    """``dws-edit train edit --recipe NAME`` from the parsed command line ``cfg``: ``--recipe list`` prints the
    recipes; otherwise :func:`run_recipe` into ``--out`` (default runs/), with ``--zoo`` (when not the default) in
    place of every stage's zoo, ``--recipe-steps`` as a cap on every stage's steps and ``--threads`` for every stage.
    Raises ValueError (one line) naming any other option given (one not at its default)."""
    if cfg.recipe == "list":
        console.print(describe(), highlight=False, soft_wrap=True)  # whole lines
        return {}
    get_recipe(cfg.recipe)
    default = type(cfg)()
    given = [
        f"--{f.name.replace('_', '-')}"
        for config, base in ((cfg, default), (cfg.loop, default.loop))
        for f in dataclasses.fields(config)
        if f.name not in (*RECIPE_OPTIONS, "loop") and getattr(config, f.name) != getattr(base, f.name)
    ]
    if given:
        raise ValueError(
            f"--recipe {cfg.recipe} sets every training option; only --zoo, --out, --threads and "
            f"--recipe-steps go with it (got {' '.join(given)})"
        )
    if cfg.recipe_steps is not None and cfg.recipe_steps < 1:
        raise ValueError(f"--recipe-steps {cfg.recipe_steps}: expected a positive integer")
    zoo = cfg.zoo if cfg.zoo != default.zoo else None
    return run_recipe(
        cfg.recipe, type(cfg), cfg.out or Path("runs"), zoo, cfg.recipe_steps, {"threads": cfg.loop.threads}
    )
