"""``dws-edit bench ood``: how often the training-data check (:mod:`dws_edit.ood`) warns, per shipped model with a
detector, on INRs like its training data and unlike it.

Evaluation sets: the model's zoo test split (when its zoo is here): its trained families asked as they trained
(the rate the threshold's quantile promises, ~1%), the same asked with another family's parameters (a mug asked for
its legs), the other families (primitives, compositions); the held-out meshes of :mod:`dws_edit.data.mesh_set`
fitted as ``fit_mesh`` fits a user's mesh; for SDF models the same meshes fitted by other code
(:func:`dws_edit.bench.other_fits.fit_siren_sdf`, both recipes) and those fits refitted
(:func:`dws_edit.runner.refit`, what ``--refit`` edits). The held-out INRs are asked with every class's parameters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.table import Table

from dws_edit.console import console
from dws_edit.records import atomic_write_json, run_record


@dataclass
class BenchOOD:
    """Count the training-data check's warnings per shipped model and evaluation set."""

    models: tuple[str, ...] = ()
    """Shipped models to measure (default: every one with a detector, checkpoints/<name>.ood.safetensors)."""
    detector: Path | None = None
    """Measure this detector file instead of the shipped one (one model; e.g. one ``train ood --out`` wrote)."""
    mesh_fit_steps: int = 1000
    """3-D: Adam steps fitting each held-out mesh (width 32, 16,384 points, fit_shape's rate); 0: not measured."""
    other_fit_steps: int = 1500
    """sdf: Adam steps of each fit by other code (the edit bench's); 0: not measured."""
    refit: bool = True
    """sdf: also the fits by other code refitted (dws_edit.runner.refit, as --refit does)."""
    fits: Path | None = None
    """A .safetensors file of the held-out fits: read where it exists (and holds them), else written, so that a
    rerun (another detector) edits the same INRs without fitting them again."""
    threads: int = 2
    """torch CPU threads."""
    out: Path | None = None
    """Optional JSON file for the results."""

    def run(self) -> dict:
        from dws_edit.checkpoints import available_models, shipped_model
        from dws_edit.checks import at_least
        from dws_edit.ood import Detector, detector_for, detector_path

        at_least("--mesh-fit-steps", self.mesh_fit_steps, 0)
        at_least("--other-fit-steps", self.other_fit_steps, 0)
        started = time.time()
        torch.set_num_threads(self.threads)
        cards = available_models()
        names = list(self.models) or [n for n in cards if detector_path(n).exists()]
        if unknown := [n for n in names if n not in cards]:
            raise ValueError(f"no shipped model {unknown}; accepted: {', '.join(cards)}")
        if not names:
            raise ValueError("no shipped model has a detector; fit one: dws-edit train ood --model sdf-remove_part")
        rows = []
        for name in names:
            net = shipped_model(name)
            detector = Detector.load(self.detector) if self.detector else detector_for(net)
            if detector is None:
                raise ValueError(f"{name} has no detector fitted on it; dws-edit train ood --model {name}")
            for set_name, rates in self._sets(name, cards[name], net, detector):
                rows.append({"model": name, "set": set_name} | rates)
        self._print(rows)
        result = run_record("dws-edit", None, started, bench="ood", rows=rows)
        if self.out:
            atomic_write_json(self.out, result)
        return result

    def _sets(self, name: str, card: dict, net, detector):
        from dws_edit.bench.other_fits import DOMAINS
        from dws_edit.data import load_zoo
        from dws_edit.edits import get_edit
        from dws_edit.tasks.ood import measure

        edit, domain = get_edit(card["edit"], "learned"), card["domain"]
        zoo = Path(detector.info.get("zoo") or card["data"]["zoo"])
        if (zoo / "manifest.json").exists():
            labels = {"trained": "families it trained on, asked as trained",
                      "other_params": "the same, asked for another family's part",
                      "other_families": "families without the part, asked each"}  # fmt: skip
            for what, rates in measure(detector, net, edit, load_zoo(zoo, "test"), domain).items():
                yield f"{zoo} test: {labels[what]}", rates
        else:
            console.print(f"{name}: {zoo} is not on this machine (bash scripts/fit_zoos.sh): no test split")
        held = self._held_out(domain, domain in DOMAINS)
        for set_name, ws in held.items():
            yield set_name, self._asked_each(net, detector, ws)

    def _asked_each(self, net, detector, ws) -> dict:
        """The rates over every INR of ``ws`` asked with every class's parameters."""
        from dws_edit.tasks.ood import _sum, features_of, warned

        conds = detector.conds.unique(dim=0) if detector.conds.numel() else None
        asked = [None] if conds is None else [c.expand(ws.batch_size, -1) for c in conds]
        return _sum([warned(detector, features_of(net, ws, c, detector.layers), c) for c in asked])

    def _held_out(self, domain: str, other: bool) -> dict:
        """Set name -> the held-out fits (read from / written to ``fits`` where given)."""
        from dws_edit.api import fit_shape
        from dws_edit.bench.other_fits import RECIPES, fit_siren_sdf
        from dws_edit.data.mesh_set import held_out_meshes, held_out_shapes
        from dws_edit.inr.domains import get_domain
        from dws_edit.runner import refit
        from dws_edit.weights import WeightSpace

        stored = _read_fits(self.fits) if self.fits and self.fits.exists() else {}
        sets: dict[str, WeightSpace] = {}
        if self.mesh_fit_steps and get_domain(domain).has_surface:
            key = f"held-out meshes, fitted as fit_mesh ({self.mesh_fit_steps} steps)" + (
                ", fields" if get_domain(domain).rendered else ""
            )
            sets[key] = stored[key] if key in stored else WeightSpace.cat([
                fit_shape(s, max_steps=self.mesh_fit_steps, points=16384, field=get_domain(domain).rendered)
                for s in held_out_shapes().values()])  # fmt: skip
        if self.other_fit_steps and other:
            for recipe in RECIPES:
                key = f"held-out meshes, {recipe} fits by other code ({self.other_fit_steps} steps)"
                if key not in stored:
                    stored_or_fit = [
                        fit_siren_sdf(m, recipe, steps=self.other_fit_steps) for m in held_out_meshes().values()
                    ]
                    sets[key] = WeightSpace.cat(stored_or_fit)
                else:
                    sets[key] = stored[key]
                if self.refit:
                    again = f"{key}, refitted"
                    sets[again] = stored[again] if again in stored else refit(sets[key])
        if self.fits and set(sets) - set(stored):
            _write_fits(self.fits, stored | sets)
        return sets

    def _print(self, rows: list[dict]) -> None:
        table = Table(title="the training-data check: INRs warned about as unlike the model's training data")
        for col in ("model", "set", "INRs x asks", "warned", "rate"):
            table.add_column(col, justify="left" if col in ("model", "set") else "right")
        for r in rows:
            table.add_row(r["model"], r["set"], str(r["inrs"]), str(r["warned"]), f"{r['rate']:.1%}")
        console.print(table)


def _write_fits(path: Path, sets: dict) -> None:
    import json

    from dws_edit.io import write_file

    tensors, specs = {}, {}
    for k, (key, ws) in enumerate(sets.items()):
        tensors |= {f"{k}.{n}": t.contiguous() for n, t in ws.to_state_dict().items()}
        specs[key] = [k, ws.spec.to_dict()]
    write_file(path, tensors, {"sets": json.dumps(specs)})


def _read_fits(path: Path) -> dict:
    import json

    from dws_edit.io import read_file
    from dws_edit.weights import NetworkSpec, WeightSpace

    tensors, meta = read_file(path, finite=True)
    out = {}
    for key, (k, spec) in json.loads(meta.get("sets", "{}")).items():
        state = {n.split(".", 1)[1]: t for n, t in tensors.items() if n.split(".", 1)[0] == str(k)}
        out[key] = WeightSpace.from_state_dict(state, NetworkSpec.from_dict(spec))
    return out
