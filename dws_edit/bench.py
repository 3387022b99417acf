"""``dws-edit bench <name>``: side-by-side benchmarks; each measures its baselines in the same run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from dws_edit.nn import DWSClassifier
from dws_edit.records import atomic_write_json, run_record
from dws_edit.weights import NetworkSpec, WeightSpace

console = Console(width=max(Console().width, 120))

# Reference throughputs measured on this machine type with the same setting (shared/REFERENCE.md §2);
# printed for context only, never as this run's baseline.
REFERENCE_INRS_PER_S = {"official DWSNets classifier": 57.0, "nfn NPLinear stack": 200.0}


@dataclass
class BenchLayers:
    """Training throughput (forward + backward + AdamW) of a DWSNet classifier on SIREN weights."""

    layer_sizes: tuple[int, ...] = (2, 32, 32, 1)
    batch: int = 256
    hidden: int = 32
    depth: int = 4
    threads: int = 2
    warmup: int = 3
    steps: int = 10
    repeats: int = 3
    """Each throughput is the median of this many timings of ``steps`` steps."""
    seed: int = 0
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
        result = run_record(self.seed, started, bench="layers", rows=rows, bf16_relative_error=bf16_error)
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


@dataclass
class BenchFit:
    """Fitting INRs to the same Fashion-MNIST images: the batched fitter vs one nn.Module per image."""

    count: int = 256
    target_psnr: float = 40.0
    max_steps: int = 1000
    loop_lr: float = 5e-4
    """The anchors' recipe for the per-image loop (Adam, MSE, early stop at the target)."""
    batched_lr: float = 5e-3
    threads: int = 2
    seed: int = 0
    out: Path | None = None

    def run(self) -> dict:
        from dws_edit.data.images import load_fashion_mnist
        from dws_edit.inr import fit_images, image_spec

        started = time.time()
        torch.set_num_threads(self.threads)
        images = load_fashion_mnist("train")[0][: self.count]
        console.print(
            f"[bold]bench fit[/]: {self.count} Fashion-MNIST images, SIREN 2->32->32->1, target {self.target_psnr} dB"
        )
        rows = []

        def add(name, seconds, psnr):
            reached = int((psnr >= self.target_psnr - 1e-6).sum())
            rows.append(
                {
                    "method": name,
                    "seconds": seconds,
                    "reached": reached,
                    "mean_psnr_db": psnr.mean().item(),
                    "inrs_per_s_reaching_target": reached / seconds,
                }
            )
            console.print(f"  {name}: {seconds:.1f} s, {reached}/{self.count} reached, {reached / seconds:.1f} INRs/s")

        for lr in (self.batched_lr, self.loop_lr):
            t = time.perf_counter()
            _, psnr = fit_images(images, target_psnr=self.target_psnr, max_steps=self.max_steps, seed=self.seed, lr=lr)
            add(f"batched fitter, lr {lr:g}", time.perf_counter() - t, psnr)
        t = time.perf_counter()
        psnr = fit_one_module_per_image(images, image_spec(), self.target_psnr, self.max_steps, self.loop_lr, self.seed)
        add(f"loop of nn.Module per image, lr {self.loop_lr:g}", time.perf_counter() - t, psnr)

        base = rows[-1]["inrs_per_s_reaching_target"]
        table = Table(title=f"INRs/s reaching {self.target_psnr} dB")
        for col in ("method", "seconds", "reached", "mean PSNR", "INRs/s", "x loop (same run)"):
            table.add_column(col, justify="left" if col == "method" else "right")
        for r in rows:
            r["ratio_to_loop"] = r["inrs_per_s_reaching_target"] / base
            table.add_row(
                r["method"],
                f"{r['seconds']:.1f}",
                f"{r['reached']}/{self.count}",
                f"{r['mean_psnr_db']:.2f}",
                f"{r['inrs_per_s_reaching_target']:.1f}",
                f"{r['ratio_to_loop']:.1f}",
            )
        console.print(table)
        result = run_record(self.seed, started, bench="fit", rows=rows)
        if self.out:
            atomic_write_json(self.out, result)
        return result


def fit_one_module_per_image(images, spec, target_psnr, max_steps, lr, seed) -> torch.Tensor:
    """The straightforward recipe: a fresh SIREN nn.Module and Adam per image, early stop at the target."""
    from dws_edit.inr import grid_coords, init_siren, psnr_from_mse
    from dws_edit.inr.fitting import mse_from_psnr

    coords = grid_coords(*images.shape[-2:])
    init = init_siren(spec, len(images), torch.Generator().manual_seed(seed))
    target_mse = mse_from_psnr(target_psnr)
    out = []
    for k, image in enumerate(images):
        linears = init[k].to_linears()
        model = torch.nn.Sequential(*[m for lin in linears[:-1] for m in (lin, Sine(spec.w0))], linears[-1])
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        target = image.reshape(-1, 1)
        for _ in range(max_steps + 1):
            loss = torch.nn.functional.mse_loss(model(coords) + spec.output_offset, target)
            if loss.item() <= target_mse:
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
        out.append(psnr_from_mse(loss.detach()))
    return torch.stack(out)


class Sine(torch.nn.Module):
    def __init__(self, w0: float):
        super().__init__()
        self.w0 = w0

    def forward(self, x):
        return torch.sin(self.w0 * x)


BENCHES = {"layers": BenchLayers, "fit": BenchFit}
