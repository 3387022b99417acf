"""``dws-edit edit`` (one INR file in, the edited INR file out) and ``dws-edit models`` (what is shipped)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tyro

from dws_edit.console import console


@dataclass
class EditCommand:
    """Edit an INR file in weight space (a learned one-pass edit, or an exact closed-form edit)."""

    input: tyro.conf.Positional[Path]
    """The INR file (.safetensors written by dws-edit: dws-edit inr fit / inr import)."""
    edit: str = "smooth"
    """Learned: smooth, symmetrize, remove, remove_sphere, remove_part, dilate. Exact: mirror, translate, rotate,
    scale, symmetrize_exact, blend (dws-edit models lists them with their parameters)."""
    out: Path = Path("edited.safetensors")
    """The edited INR file to write (never half-written)."""
    exact: bool = False
    """Use the closed form where the edit has one (symmetrize)."""
    model: str | None = None
    """A checkpoint name or .safetensors path to use instead of the shipped model."""
    refine: int = 0
    """Learned edits: after the DWS model, this many Adam steps on the edit's target (e.g. 100; 0: the pass only)."""
    refit: bool = False
    """Learned 3-D edits: first fit the INR anew as the 3-D zoos fit (seconds), for SIRENs fitted by other code (e.g.
    imported with dws-edit inr import), which lie outside the models' training data."""
    sigma: float | None = None
    """smooth: Gaussian std in the INR's coordinate units."""
    axis: str | None = None
    """symmetrize, mirror, rotate (3-D): x, y or z."""
    box: tuple[float, ...] | None = None
    """remove: the region's min corner then max corner (4 numbers for images, 6 for 3-D)."""
    angle: float | None = None
    """rotate: radians."""
    offset: tuple[float, ...] | None = None
    """translate: the content moves by this vector."""
    factor: float | None = None
    """scale: the content grows by this factor (> 0)."""
    center: tuple[float, ...] | None = None
    """rotate, scale: the fixed point (default the origin); remove_sphere: the ball's center."""
    radius: float | None = None
    """remove_sphere: the ball's radius."""
    part: str | None = None
    """remove_part: handle (mugs), legs (tables, chairs) or wheels (cars)."""
    other: Path | None = None
    """blend: the second INR file."""
    t: float | None = None
    """blend: the weight of the second INR, (1 - t) f_a + t f_b."""

    def run(self) -> Path:
        from dws_edit.api import edit
        from dws_edit.cli.inr import check_inr_out
        from dws_edit.inr import read_inr, save_inr

        check_inr_out(self.out, self.input, self.other)
        if self.edit == "affine":
            raise ValueError("--edit affine takes a matrix: use the Python API, dws_edit.edit(ws, 'affine', A=..., "
                             "t=...); the CLI's input maps are mirror, translate, rotate and scale")  # fmt: skip
        ws, header = read_inr(self.input)
        names = ("sigma", "axis", "box", "angle", "offset", "factor", "center", "radius", "part", "t")
        params = {k: getattr(self, k) for k in names if getattr(self, k) is not None}
        if self.other is not None:
            params["b"] = read_inr(self.other)[0]
        edited = edit(ws, self.edit, exact=self.exact, model=self.model, refine=self.refine, refit=self.refit, **params)
        from dws_edit.edits import EXACT_EDITS

        step = {"edit": self.edit, "exact": self.exact or self.edit in EXACT_EDITS}
        if self.refine:
            step["refine"] = self.refine
        if self.refit:
            step["refit"] = True
        if self.model is not None and not step["exact"]:
            step["model"] = self.model
        step.update({k: v for k, v in params.items() if k != "b"})
        if self.other is not None:
            step["other"] = str(self.other)
        save_inr(self.out, edited, [*header.get("edit_history", []), step])
        console.print(
            f"{self.edit} {self.input} -> {self.out} (hidden widths {edited.spec.hidden_sizes}); history {step}"
        )
        return self.out


@dataclass
class Publish:
    """Copy a training run's best model into checkpoints/ under a name, with its card."""

    run_dir: tyro.conf.Positional[Path]
    """The training run folder (holding best.safetensors)."""
    name: str = "image-smooth"
    """The shipped name, <domain>-<edit> (dws_edit.edit finds learned models by their card)."""
    baseline: bool = False
    """A FlatMLPEditNet baseline: goes to checkpoints/baselines/<name>.safetensors (used by dws-edit bench edit),
    stored as float16."""
    half: bool = False
    """Store the parameters as float16 (half the file; loaded as float32; measure the published file)."""

    def run(self) -> Path:
        from dws_edit.checkpoints import publish

        path = publish(self.run_dir, self.name, self.baseline, self.half)
        console.print(f"published {self.run_dir} as {path}")
        return path


@dataclass
class Models:
    """List the edits (learned and exact), their parameters, and the shipped models with their measured quality."""

    def run(self) -> list[dict]:
        from rich.markup import escape
        from rich.table import Table

        from dws_edit.api import available_edits
        from dws_edit.bench.cards import accepts_summary, model_input, quality_summary
        from dws_edit.checkpoints import available_models

        edits = available_edits()
        table = Table(title="edits")
        for col in ("edit", "kind", "domains", "parameters", "shipped models"):
            table.add_column(col)
        for e in edits:
            params = e["params"]
            text = "; ".join(f"{d}: {', '.join(p) or '-'}" for d, p in params.items()) if e["kind"] == "learned" else (
                ", ".join(f"{k} ({v})" for k, v in params.items()))  # fmt: skip
            shipped = ", ".join(m["name"] for m in e.get("models", [])) or "-"
            table.add_row(e["name"], e["kind"], ", ".join(e["domains"]), escape(text), shipped)
        console.print(table)
        models = Table(title="shipped models (checkpoints/README.md has every measurement)")
        for col in ("model", "edit", "accepts", "input", "test quality"):
            models.add_column(col)
        for name, card in available_models().items():
            models.add_row(name, card["edit"], accepts_summary(card), model_input(card), quality_summary(card))
        console.print(models)
        return edits


MODELS_COMMANDS = {"list": Models, "publish": Publish}
