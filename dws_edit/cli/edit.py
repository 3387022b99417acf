"""``dws-edit edit`` (one INR file in, the edited INR file out) and ``dws-edit models`` (what is shipped)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

from dws_edit.console import console
from dws_edit.edits import REGISTRY, ValueParam

CLI_EDITS = tuple(name for name, e in REGISTRY.items()
                  if all(p.optional or p.name == "b" or not isinstance(p, ValueParam)
                         for d in e.domains for p in e.params(d)))  # fmt: skip
"""The edits the command line can give every parameter of (affine's matrix only the Python API can; blend's INR
comes from --other)."""
EditName = Annotated[str, tyro.conf.arg(metavar="{" + ",".join(CLI_EDITS) + "}")]
"""--edit: required (no edit runs that was not named), its metavar the edits the command line runs, so that the help
and the missing-option line list them; a name not among them gets get_edit's line (learned and exact edits apart)
or, for affine, the line that sends it to the Python API."""


@dataclass
class _EditOptions:
    """Edit an INR file in weight space: learned (a forward pass of a shipped model) or exact (a closed form)."""

    input: tyro.conf.Positional[Path]
    """The INR file (.safetensors written by dws-edit: dws-edit inr fit / inr import)."""
    edit: EditName
    """Which edit (required). Learned: smooth, symmetrize, remove, remove_sphere, remove_part, dilate: a forward
    pass of a shipped model (some models take a few passes; see the card). Exact: mirror, translate, rotate, scale,
    symmetrize_exact and blend. dws-edit models list shows every edit's parameters. Coordinates lie in [-1, 1];
    images: x runs left to right, y down the rows (top to bottom); 3-D: y up."""
    out: Path = Path("edited.safetensors")
    """The edited INR file to write (never half-written)."""
    exact: bool = False
    """Use the closed form where the edit has one (symmetrize)."""
    model: str | None = None
    """A checkpoint name or .safetensors path to use instead of the shipped model."""
    refine: int = 0
    """Learned edits: after the DWS model, this many Adam steps on the edit's target (e.g. 100; 0: the default, the
    model alone for images and fields, 100 steps where the pass is only a start: SDFs, and a mode the model was not
    trained on)."""
    refit: bool = False
    """Learned 3-D edits: first fit the INR anew as the 3-D zoos fit (seconds), for SIRENs fitted by other code (e.g.
    imported with dws-edit inr import), which lie outside the models' training data."""
    width: str | None = None
    """The hidden widths returned: input (the default of learned edits without --refine: the model's output, widths
    x 2, fitted back at the input's widths in about 0.1 s, so chained edits keep working) or wide (the output as it
    is, the default of exact edits, whose wide result is exact, and with --refine; widths double at every learned
    edit, symmetrize_exact and blend)."""
    other: Path | None = None
    """blend: the second INR file (its parameter b)."""
    guard: int = 100
    """Learned edits are never worse than not editing: a pass not clearly better than no edit (its loss against the
    exact target above 0.9 of no edit's) gets up to this many refine steps, else the INR comes back as it was, with a
    warning; the guard's report is printed and kept in the file's edit history (0: check and fall back only)."""

    def run(self) -> Path:
        from dws_edit.api import edit
        from dws_edit.cli.inr import check_inr_out
        from dws_edit.edits import get_edit
        from dws_edit.inr import read_inr, save_inr
        from dws_edit.inr.domains import domain_of

        check_inr_out(self.out, self.input, self.other)
        definition = get_edit(self.edit)
        ws, header = read_inr(self.input)
        domain = domain_of(ws.spec)
        definition.check_domain(domain)
        given = [p.name for p in definition.params(domain) if p.name in OPTIONS or p.name == "b"]
        if untyped := [p.name for p in definition.params(domain) if p.name not in given and not p.optional]:
            raise ValueError(f"--edit {self.edit} takes {', '.join(untyped)}, which the command line cannot give: use "
                             f"the Python API, dws_edit.edit(ws, {self.edit!r}, ...)")  # fmt: skip
        takes_other = "b" in given  # blend's second INR, given as a file by --other
        if takes_other and self.other is None:
            raise ValueError(f"--other B.safetensors is required for --edit {self.edit} (the second INR file)")
        if self.other is not None and not takes_other:
            with_other = [n for n, e in REGISTRY.items()
                          if domain in e.domains and any(p.name == "b" for p in e.params(domain))]  # fmt: skip
            raise ValueError(f"--other {self.other}: --edit {self.edit} takes no second INR file; accepted with: "
                             f"--edit {', '.join(with_other)}")  # fmt: skip
        params = {k: getattr(self, k) for k in OPTIONS if getattr(self, k) is not None}
        if self.other is not None:
            params["b"] = read_inr(self.other)[0]
        edited, report = edit(ws, self.edit, exact=self.exact, model=self.model, refine=self.refine, refit=self.refit,
                              guard=self.guard, width=self.width, report=True, **params)  # fmt: skip
        step = {"edit": self.edit, "exact": self.exact or definition.kind == "exact"}
        if ran := (report.asked_refine if report is not None else 0) or self.refine:  # asked, or the default
            step["refine"] = ran
        if self.refit:
            step["refit"] = True
        if self.width is not None:
            step["width"] = self.width
        if self.model is not None and not step["exact"]:
            step["model"] = self.model
        step.update({k: v for k, v in params.items() if k != "b"})
        if self.other is not None:
            step["other"] = str(self.other)
        if report is not None:
            step["guard"] = report.to_dict()
            console.print(report.summary())
        save_inr(self.out, edited, [*header.get("edit_history", []), step])
        console.print(f"{self.edit} {self.input} -> {self.out} (hidden widths {edited.spec.hidden_sizes}; the step and "
                      "its guard report are in the file's edit history)")  # fmt: skip
        return self.out


def _options() -> dict[str, tuple[type, str]]:
    """One command-line option per parameter name of the edit registry: its type from the parameter's class (a
    number, a choice, numbers) and its help from the parameters' docs and accepted values, edit by edit. Parameters
    the command line cannot give (ValueParam: a matrix, an INR) get none (blend's INR comes from --other)."""
    from dws_edit.edits import REGISTRY, ChoiceParam, FloatParam, ValueParam

    found: dict[str, list[tuple[str, str, object]]] = {}
    for e in REGISTRY.values():
        for d in e.domains:
            for p in e.params(d):
                if not isinstance(p, ValueParam):
                    found.setdefault(p.name, []).append((e.name, d, p))
    out = {}
    for name, uses in found.items():
        kind = type(uses[0][2])
        typ = float | None if kind is FloatParam else str | None if kind is ChoiceParam else tuple[float, ...] | None
        by_edit: dict[str, dict[str, list[str]]] = {}  # edit -> accepted text -> domains
        for edit, domain, p in uses:
            text = p.accepted() + (", optional" if p.optional else "")
            by_edit.setdefault(edit, {}).setdefault(text, []).append(domain)
        docs = {f"{edit}: {p.doc}" for edit, _, p in uses}
        ranges = [f"{edit} " + "; ".join(f"{', '.join(ds)}: {t}" for t, ds in texts.items())
                  for edit, texts in by_edit.items()]  # fmt: skip
        out[name] = (typ, ". ".join(sorted(docs)) + ". Accepted: " + " | ".join(ranges))
    return out


OPTIONS = _options()
"""The edit parameters' options (name -> (type, help)), from the registry (dws_edit.edits.REGISTRY)."""


def with_edit_options(base: type, name: str, module: str, edits: tuple[str, ...] | None = None) -> type:
    """``base`` (a config dataclass) with one optional field per edit parameter of :data:`OPTIONS` (None: not
    given; only the parameters of ``edits`` where given), as the command ``name`` of ``module``: its --help lists
    every such parameter with its accepted values."""
    wanted = None if edits is None else {p.name for e in edits for d in REGISTRY[e].domains
                                         for p in REGISTRY[e].params(d)}  # fmt: skip
    cls = dataclasses.make_dataclass(
        name,
        [(option, Annotated[typ, tyro.conf.arg(help=text)], dataclasses.field(default=None))
         for option, (typ, text) in OPTIONS.items() if wanted is None or option in wanted],
        bases=(base,),
    )  # fmt: skip
    cls.__doc__, cls.__module__ = base.__doc__, module
    return cls


EditCommand = with_edit_options(_EditOptions, "EditCommand", __name__)


@dataclass
class Publish:
    """Copy a training run's best model into checkpoints/ under a name, with its card."""

    run_dir: tyro.conf.Positional[Path]
    """The training run folder (holding best.safetensors)."""
    name: str = "image-smooth"
    """The shipped name: <domain>-<edit> for an edit model (dws_edit.edit finds learned models by their card); a
    validation task's model any name (fmnist-classifier), its quality read from the runs' report."""
    baseline: bool = False
    """A FlatMLPEditNet baseline: goes to checkpoints/baselines/<name>.safetensors (used by dws-edit bench edit),
    stored as float16."""
    half: bool = False
    """Store the parameters as float16 (half the file; loaded as float32; measure the published file)."""

    def run(self) -> Path:
        from dws_edit.checkpoints import publish

        path = publish(self.run_dir, self.name, self.baseline, self.half)
        console.print(f"published {self.run_dir} as {path}")
        if "task" in json.loads(path.with_suffix(".json").read_text()):  # its quality is measured: index it now
            from dws_edit.bench.cards import write_index

            console.print(f"wrote {write_index()}")
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
            text = "; ".join(f"{d}: {', '.join(p['accepted'] for p in ps) or '-'}" for d, ps in e["params"].items())
            shipped = ", ".join(m["name"] for m in e.get("models", [])) or "-"
            table.add_row(e["name"], e["kind"], ", ".join(e["domains"]), escape(text), shipped)
        console.print(table)
        models = Table(title="shipped models (checkpoints/README.md has every measurement)")
        for col in ("model", "edit / task", "accepts", "input", "test quality"):
            models.add_column(col)
        for name, card in available_models(None).items():
            models.add_row(
                name,
                card.get("edit", card.get("task", "-")),
                accepts_summary(card),
                model_input(card),
                quality_summary(card),
            )
        console.print(models)
        return edits


MODELS_COMMANDS = {"list": Models, "publish": Publish}
