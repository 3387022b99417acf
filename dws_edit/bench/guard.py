"""``dws-edit bench guard``: how often the never-worse guard (:func:`dws_edit.guard.guard`) acts on a shipped
model's edits, what it returns, and what it costs against the model's pass alone, in the same run.

Evaluation sets: a model's zoo test split (when its zoo is on this machine), and for 3-D models the held-out meshes
of :mod:`dws_edit.data.mesh_set` fitted as ``fit_mesh`` fits a user's mesh. Each INR gets a random parameter draw
from the edit's ranges (seeded); the edit runs one INR at a time, as a user runs it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.table import Table

from dws_edit.checkpoints import trained_fixed
from dws_edit.console import console
from dws_edit.records import atomic_write_json, run_record


@dataclass
class BenchGuard:
    """Count the guard's outcomes per shipped model and evaluation set, and time the edit with and without it."""

    models: tuple[str, ...] = ()
    """Shipped models to measure (default: every one whose target is a function of the INR)."""
    count: int = 32
    """Test-split INRs per model (when its zoo is here: zoos/...)."""
    mesh_fit_steps: int = 1000
    """3-D: Adam steps fitting each held-out mesh (width 32, fit_shape's rate); 0: no held-out meshes."""
    other_fit_steps: int = 0
    """sdf: also the held-out meshes fitted by other code (dws_edit.bench.other_fits: the SIREN paper's eikonal
    recipe and DeepSDF's, in vsitzmann's network, imported), this many Adam steps each (1500: the edit bench's); 0:
    not measured."""
    seed: int = 0
    """Seed of the parameter draws."""
    threads: int = 2
    """torch CPU threads."""
    out: Path | None = None
    """Optional JSON file for the results."""

    def run(self) -> dict:
        from dws_edit.checkpoints import available_models
        from dws_edit.checks import at_least
        from dws_edit.edits import get_edit

        at_least("--count", self.count, 1)
        at_least("--mesh-fit-steps", self.mesh_fit_steps, 0)
        at_least("--other-fit-steps", self.other_fit_steps, 0)
        started, self._fits = time.time(), {}
        torch.set_num_threads(self.threads)
        cards = available_models()
        names = list(self.models) or [n for n, c in cards.items() if not get_edit(c["edit"]).from_generator]
        if unknown := [n for n in names if n not in cards]:
            raise ValueError(f"no shipped model {unknown}; accepted: {', '.join(cards)}")
        rows = []
        for name in names:
            for set_name, ws in self._sets(cards[name]):
                rows.append({"model": name, "set": set_name} | self._measure(name, cards[name], ws))
        self._print(rows)
        result = run_record("dws-edit", self.seed, started, bench="guard", rows=rows)
        if self.out:
            atomic_write_json(self.out, result)
        return result

    def _sets(self, card: dict):
        from dws_edit.data import load_zoo
        from dws_edit.inr.domains import get_domain

        zoo = Path(card["data"]["zoo"])
        if (zoo / "manifest.json").exists():
            yield f"{zoo} test", load_zoo(zoo, "test").ws[: self.count]
        else:
            console.print(f"{card['name']}: {zoo} is not on this machine (bash scripts/fit_zoos.sh): no test split")
        if get_domain(card["domain"]).has_surface and self.mesh_fit_steps:
            yield "held-out meshes", self._meshes(get_domain(card["domain"]).rendered)
        from dws_edit.bench.other_fits import DOMAINS, RECIPES

        if card["domain"] in DOMAINS and self.other_fit_steps:
            for recipe in RECIPES:
                yield f"held-out meshes, {recipe} fits by other code", self._other_fits(recipe)

    def _meshes(self, field: bool):
        from dws_edit.api import fit_shape
        from dws_edit.data.mesh_set import held_out_shapes
        from dws_edit.weights import WeightSpace

        if field not in self._fits:  # fitted once per run: every model edits the same INRs
            fits = [fit_shape(s, max_steps=self.mesh_fit_steps, points=16384, field=field)
                    for s in held_out_shapes().values()]  # fmt: skip
            self._fits[field] = WeightSpace.cat(fits)
        return self._fits[field]

    def _other_fits(self, recipe: str):
        from dws_edit.bench.other_fits import fit_siren_sdf
        from dws_edit.data.mesh_set import held_out_meshes
        from dws_edit.weights import WeightSpace

        if recipe not in self._fits:  # fitted once per run, as the held-out meshes
            fits = [fit_siren_sdf(m, recipe, steps=self.other_fit_steps) for m in held_out_meshes().values()]
            self._fits[recipe] = WeightSpace.cat(fits)
        return self._fits[recipe]

    def _measure(self, name: str, card: dict, ws) -> dict:
        import warnings

        from dws_edit.api import edit
        from dws_edit.edits import get_edit

        definition = get_edit(card["edit"])
        g, fixed = torch.Generator().manual_seed(self.seed), trained_fixed(card)
        params = definition.sample(ws.batch_size, g, card["domain"], fixed=fixed)
        outcomes, better, worse_without, seconds, seconds_pass = [], 0, 0, 0.0, 0.0
        for i in range(ws.batch_size):
            p = {k: v[i : i + 1] for k, v in params.items()}
            t = time.perf_counter()
            edit(ws[i : i + 1], definition.name, model=name, guard=None, **p)
            seconds_pass += time.perf_counter() - t
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, report = edit(ws[i : i + 1], definition.name, model=name, report=True, **p)
            seconds += time.perf_counter() - t
            outcomes.append(report.outcome[0])
            worse_without += report.loss_pass[0] > report.loss_no_edit[0]
            # "no edit" comes back as the INR was: its loss equal to no edit's up to rounding (1e-15 where that is 0)
            better += report.loss_out[0] <= report.loss_no_edit[0] * (1 + 1e-5) + 1e-12
        n = ws.batch_size
        counts = {o: outcomes.count(o) for o in ("pass", "refined", "better, not clearly", "no edit")}
        return {"inrs": n, "outcomes": counts, "pass_worse_than_no_edit": worse_without, "returned_not_worse": better,
                "seconds_per_inr": seconds / n, "pass_seconds_per_inr": seconds_pass / n,
                "cost_ratio": seconds / max(seconds_pass, 1e-9)}  # fmt: skip

    def _print(self, rows: list[dict]) -> None:
        table = Table(title="the never-worse guard: outcomes per INR (one INR per edit, as a user runs it)")
        cols = (
            "model",
            "set",
            "INRs",
            "pass",
            "refined",
            "not clearly",
            "no edit",
            "pass worse",
            "returned <= no edit",
        )
        for col in cols + ("s/INR pass", "s/INR guarded", "ratio"):
            table.add_column(col, justify="left" if col in ("model", "set") else "right")
        for r in rows:
            o = r["outcomes"]
            table.add_row(r["model"], r["set"], str(r["inrs"]), str(o["pass"]), str(o["refined"]),
                          str(o["better, not clearly"]), str(o["no edit"]), str(r["pass_worse_than_no_edit"]),
                          f"{r['returned_not_worse']}/{r['inrs']}", f"{r['pass_seconds_per_inr']:.3f}",
                          f"{r['seconds_per_inr']:.3f}", f"{r['cost_ratio']:.1f}x")  # fmt: skip
        console.print(table)
