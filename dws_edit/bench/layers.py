"""``dws-edit bench layers``: training throughput of the DWS layer stack against nfn, measured in the same run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.table import Table

from dws_edit.console import console
from dws_edit.nn import DWSClassifier
from dws_edit.records import atomic_write_json, run_record
from dws_edit.weights import NetworkSpec, WeightSpace

# Reference throughputs measured on this machine type with the same setting (shared/REFERENCE.md §2);
# printed for context only, never as this run's baseline.
REFERENCE_INRS_PER_S = {"official DWSNets classifier": 57.0, "nfn NPLinear stack": 200.0}


@dataclass
class BenchLayers:
    """Training throughput (forward + backward + AdamW) of a DWSNet classifier on SIREN weights."""

    layer_sizes: tuple[int, ...] = (2, 32, 32, 1)
    """INR architecture d0, hidden widths..., dL (the anchors' image SIREN by default)."""
    batch: int = 256
    """INRs per training step."""
    hidden: int = 32
    """Channels of each DWS layer."""
    depth: int = 4
    """DWS layers."""
    threads: int = 2
    """torch CPU threads."""
    warmup: int = 3
    """Untimed steps first."""
    steps: int = 10
    """Timed steps per repeat."""
    repeats: int = 3
    """Each throughput is the median of this many timings of ``steps`` steps."""
    seed: int = 0
    """Seed of the random weights and labels."""
    out: Path | None = None
    """Optional JSON file for the results."""

    def run(self) -> dict:
        started = time.time()
        torch.set_num_threads(self.threads)
        torch.manual_seed(self.seed)
        spec = NetworkSpec(self.layer_sizes)
        ws = WeightSpace.randn(spec, self.batch) * 0.1
        labels = torch.randint(0, 10, (self.batch,))
        rows = []

        def add(name, model, forward, bf16=False):
            rate = train_throughput(model, forward, labels, self.warmup, self.steps, self.repeats, bf16)
            rows.append({"model": name, "params": sum(p.numel() for p in model.parameters()), "inrs_per_s": rate})
            console.print(f"  {name}: {rate:,.0f} INRs/s")

        console.print(f"[bold]bench layers[/]: spec {spec.layer_sizes}, batch {self.batch}, {self.threads} threads")
        dws = DWSClassifier(spec, 10, hidden=self.hidden, depth=self.depth)
        add(f"DWSClassifier {self.depth}x{self.hidden} (float32)", dws, lambda m: m(ws))
        add(f"DWSClassifier {self.depth}x{self.hidden} (bf16 autocast)", dws, lambda m: m(ws), bf16=True)
        with torch.no_grad():
            exact = dws(ws)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                approx = dws(ws).float()
        bf16_error = ((approx - exact).norm() / exact.norm()).item()
        nfn_stack = nfn_np_stack(spec, self.hidden, self.depth)
        if nfn_stack is not None:
            add(f"nfn NPLinear {self.depth}x{self.hidden} (bf16 autocast)", nfn_stack[0], nfn_stack[1](ws), bf16=True)
            add(f"nfn NPLinear {self.depth}x{self.hidden} (float32)", nfn_stack[0], nfn_stack[1](ws))
        else:
            console.print("  nfn is not installed (pip install nfn einops): no same-run nfn baseline")
        table = Table(title="training throughput, INRs/s")
        for col in ("model", "params", "INRs/s", "x nfn, this run", "x 57 (DWSNets ref.)", "x 200 (nfn ref.)"):
            table.add_column(col, justify="right" if col != "model" else "left")
        nfn_rate = rows[-1]["inrs_per_s"] if nfn_stack is not None else None  # nfn in float32
        for r in rows:
            r["ratio_to_nfn_this_run"] = r["inrs_per_s"] / nfn_rate if nfn_rate else None
            r["ratio_to_reference"] = {k: r["inrs_per_s"] / v for k, v in REFERENCE_INRS_PER_S.items()}
            table.add_row(
                r["model"],
                f"{r['params']:,}",
                f"{r['inrs_per_s']:,.0f}",
                f"{r['ratio_to_nfn_this_run']:.2f}" if nfn_rate else "-",
                f"{r['inrs_per_s'] / 57.0:.1f}",
                f"{r['inrs_per_s'] / 200.0:.1f}",
            )
        console.print(table)
        console.print(f"bf16 autocast: relative error of the logits vs float32 = {bf16_error:.2e}")
        console.print(
            "x 57 / x 200: ratios to throughputs measured earlier on this machine type (shared REFERENCE.md), "
            "not in this run"
        )
        result = run_record("dws-edit", self.seed, started, bench="layers", rows=rows, bf16_relative_error=bf16_error)
        if self.out:
            atomic_write_json(self.out, result)
        return result


def train_throughput(model, forward, labels, warmup: int, steps: int, repeats: int = 1, bf16: bool = False) -> float:
    """INRs per second of cross-entropy training steps (forward, backward, AdamW): median of ``repeats``."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), 1e-3)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(forward(model).float(), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(steps * len(labels) / (time.perf_counter() - start))
    return sorted(rates)[len(rates) // 2]


def nfn_np_stack(spec: NetworkSpec, hidden: int, depth: int):
    """The nfn library's NPLinear stack with ReLUs and NP pooling head, or None if nfn is absent."""
    try:
        from nfn.common import WeightSpaceFeatures, network_spec_from_wsfeat
        from nfn.layers import HNPPool, NPLinear, TupleOp
    except ImportError:
        return None

    def features(ws: WeightSpace):
        return WeightSpaceFeatures(list(ws.weights), list(ws.biases))

    nspec = network_spec_from_wsfeat(features(WeightSpace.zeros(spec)))
    layers = []
    channels = (1,) + (hidden,) * depth
    for a, b in zip(channels[:-1], channels[1:]):
        layers += [NPLinear(nspec, a, b, io_embed=False), TupleOp(torch.nn.ReLU())]
    pool_out = HNPPool.get_num_outs(nspec) * hidden
    model = torch.nn.Sequential(
        *layers,
        HNPPool(nspec),
        torch.nn.Flatten(),
        torch.nn.Linear(pool_out, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )
    return model, lambda ws: lambda m: m(features(ws))
