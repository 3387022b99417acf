"""What ``dws-edit bench edit --write-cards`` writes: each shipped model's measured quality into its card, the
index ``checkpoints/README.md`` (every shipped model of every domain, from the cards), and the error-vs-time
plots."""

from __future__ import annotations

import sys
from pathlib import Path

from dws_edit.bench.common import mlp_text, speedup_text
from dws_edit.checkpoints import available_models, checkpoint_dir, load_checkpoint, save_checkpoint
from dws_edit.inr.domains import get_domain
from dws_edit.records import atomic_write_bytes

IMAGE_KEYS = ("identity_mse", "mlp_mse", "removed", "loop_fitted", "other_widths", "vs_dilated_original")
KEYS_3D = ("identity_mse", "mlp_mse", "removed", "identity_iou", "mlp_iou", "iou_resolution", "meshes",
           "identity_psnr", "mlp_psnr", "dws_psnr", "held_out_meshes", "speedup_at_equal_mse", "speedup_kind",
           "refit_iou", "refit_mse", "refit_seconds", "refit_psnr", "exact_iou", "exact_mse", "exact_seconds",
           "changed", "mlp_baseline", "other_fits", "guarded_iou", "guarded_mse", "guarded_worse",
           "guarded_seconds")  # fmt: skip


def write_quality(name: str, row: dict) -> None:
    """Store one bench row's measurements as ``card["quality"]`` of the shipped model ``name`` (its checkpoint
    is rewritten with the new card, atomically, in the precision it was stored in)."""
    path = checkpoint_dir() / f"{name}.safetensors"
    model = load_checkpoint(path)
    card = dict(model.card)
    quality = {"test_inrs": row["inrs"], "mse": row["dws_mse"]}
    if "dws_iou" in row:
        quality["iou"] = row["dws_iou"]
    quality |= {k: row[k] for k in (KEYS_3D if "dws_iou" in row else IMAGE_KEYS) if k in row}
    args = sys.argv[1:]  # the command line that measured it, as typed (a call from Python: the bench's name)
    quality["measured_by"] = (
        " ".join(["dws-edit", *args])
        if args[:2] == ["bench", "edit"]
        else (
            "dws-edit bench edit --write-cards" + (f" --domain {card['domain']}" if card["domain"] != "image" else "")
        )
    )
    card["quality"] = quality
    save_checkpoint(path, model, card.get("model_kwargs", {}), card)


def accepts_summary(card: dict) -> str:
    """The network spec a card accepts, as the index writes it: "2->32->32->1, sin(30x)" (a ReLU MLP: ", ReLU")."""
    a = card["accepts"]
    act = a.get("activation", "sine")
    activation = f"sin({a['w0']:g}x)" if act == "sine" else {"relu": "ReLU"}.get(act, act)
    return f"{a['d0']}->{'->'.join(map(str, a['hidden_widths_trained']))}->{a['dL']}, {activation}"


def _commands(card: dict) -> str:
    """The command that trained a card's model, after the commands that trained its ``--init`` checkpoint (and that
    checkpoint's own, back to the first run) if any."""
    start = card.get("started_from")
    if not start:
        return f"`{card['command']}`"
    first = _commands(start) if start.get("command") else f"an untracked model ({start['checkpoint']})"
    return f"{first}, then `{card['command']}` (from that run's model, SHA-256 {start['sha256'][:12]})"


def model_input(card: dict) -> str:
    """What the model takes: "weights", or "weights + loss gradient" for ``--gradient`` models (", 2 passes" for
    a model with refinement passes, each taking the gradient again); ", keeps the source" for a ``--keep`` model
    (its output is the source INR plus a correction); ", values at P probe points" for a model with probes."""
    kwargs = card.get("model_kwargs", {})
    kept = ", keeps the source" if kwargs.get("keep") else ""
    if kwargs.get("probes"):  # the INR's values at probe points (dws_edit.nn.probes)
        kept = f", values at {kwargs['probes'] ** card['accepts']['d0']} probe points" + kept
    if not kwargs.get("gradient"):
        return "weights" + kept
    passes = kwargs.get("passes", 1)
    return "weights + loss gradient" + (f", {passes} passes" if passes > 1 else "") + kept


def _zoos(card: dict) -> str:
    """The zoos a model trained on: its zoo, then its extra zoos (``--extra-zoo``), joined by " + "."""
    return " + ".join([card["data"]["zoo"], *card["data"].get("extra_zoos", {})])


def _name(name: str, card: dict) -> str:
    """The model's name, marked when it takes the loss gradient besides the weights (``--gradient``)."""
    given = model_input(card)
    return name if given == "weights" else f"{name} ({given})"


def _edit(card: dict) -> str:
    """The model's edit, with the modes it learned where its card names them (``symmetrize (union)``)."""
    return card["edit"] + (f" ({', '.join(card['modes'])})" if card.get("modes") else "")


def quality_summary(card: dict) -> str:
    """One line of a card's measured test quality (the headline numbers of checkpoints/README.md), or
    "not measured" for a card without one."""
    q = card.get("quality")
    if q and card.get("task") == "classify":
        means = {m: q["models_mean"].get(m, {}).get("test_accuracy") for m in ("mlp", "probe-mlp")}
        labels = {"mlp": "flat-MLP baseline", "probe-mlp": "an MLP on the probe values alone"}
        known = "; ".join(f"{labels[m]} {v:.2f}%" for m, v in means.items() if v is not None)
        head = f"test accuracy {q['test_accuracy']:.2f}% on {q['test_inrs']} test INRs"
        return head + (f" ({known})" if known else "")
    if q and card.get("task") == "ssl":
        return f"linear-probe MSE of (a, b) {q['probe_mse']:.3f} on {q['test_inrs']} test INRs"
    if q and card.get("task") == "adapt":
        rows = (("no adaptation", "no-adaptation"), ("closed-form moment matching", "moment-matching"))
        refs = [(label, q["models_mean"].get(row, {}).get("target_accuracy")) for label, row in rows]
        known = ", ".join(f"{label} {value:.2f}%" for label, value in refs if value is not None)
        return f"target-domain test accuracy {q['target_accuracy']:.2f}% of unseen classifiers" + (
            f" ({known})" if known else "")  # fmt: skip
    if not q or "mse" not in q:
        return "not measured"
    n = f"on {q['test_inrs']} test INRs"
    if "iou" in q:
        returned = (f"; as dws_edit.edit returns it (pass, default refine, guard) {q['guarded_iou']:.3f}, worse than "
                    f"no edit on {q['guarded_worse']}" if "guarded_iou" in q else "")  # fmt: skip
        return f"IoU {q['iou']:.3f} against the exact edit (no edit {q['identity_iou']:.3f}) {n}{returned}"
    return f"MSE {q['mse']:.2e} (no edit {q['identity_mse']:.2e}), {100 * q['removed']:.0f}% of the error removed {n}"


def _image_rows(cards: dict) -> list[str]:
    lines = [
        "MSE on the 28x28 pixel grid, values in [0, 1], against the edit's exact functional target, on the zoo's",
        "test split.",
        "",
        "| model | edit | accepts | trained on | test INRs | MSE no edit | MSE MLP | MSE DWS | error removed |"
        " other widths: removed | loop-fitted INRs: removed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, card in cards.items():
        q = card["quality"]
        widths = ", ".join(f"{w}: {100 * v['removed']:.0f}%" for w, v in q.get("other_widths", {}).items())
        mlp = f"{q['mlp_mse']:.2e}" if q.get("mlp_mse") is not None else "-"
        lines.append(
            f"| {_name(name, card)} | {_edit(card)} | {accepts_summary(card)} | {_zoos(card)} "
            f"({card['data']['train_inrs']:,} INRs) | {q['test_inrs']} | {q['identity_mse']:.2e} | {mlp} | "
            f"{q['mse']:.2e} | {100 * q['removed']:.0f}% | {widths} | {100 * q['loop_fitted']['removed']:.0f}% |"
        )
    return lines


def _rows_3d(cards: dict) -> list[str]:
    lines = [
        "Against the exact edit on the zoo's test split: volumetric IoU (128^3 grid; smooth 32^3), Chamfer distance",
        "of 64^3 marching-cubes meshes (coordinate units, shapes span [-0.8, 0.8]) next to the source INR's own",
        "fitting error, rendered-view PSNR for fields, and IoU (fields: and view PSNR) on INRs fitted to held-out",
        "meshes the generator cannot make (dws_edit.data.mesh_set), fitted as `fit_mesh` fits a user's mesh, with",
        "random edits (after the semicolon: how many; 8 meshes x the bench's `--held-out-draws`), and for SDFs on",
        "SIRENs fitted to the same meshes by other code, the same edits (eikonal: the SIREN paper's recipe; deepsdf:",
        "DeepSDF's; dws_edit.bench.other_fits), imported as a user's file is, and DWS after `refit=True`. MLP: the",
        "FlatMLPEditNet baseline (the flattened weights only, one pass; the card's `quality.mlp_baseline` gives its",
        "command and size), not shipped (checkpoints/ stays under 50 MB): `bash scripts/train_3d_baselines.sh`",
        'trains them into runs/, where the bench finds them; "-" where the measuring run had none.',
        "IoU reference: for remove_part, INRs fitted from scratch to the exact edited shapes with the zoo's own recipe",
        "(refit: how faithful an INR of the zoo's kind is to the edited shape, the ceiling of any edit's output); for",
        "symmetrize, its closed form in weight space (exact: `dws_edit.edit(..., exact=True)`, hidden widths x 2).",
        'IoU DWS: the model\'s pass alone, and in brackets (held-out sets: after "returned") what `dws_edit.edit`',
        "returns with its defaults: for SDFs the pass, 200 refine steps by the surface loss and the never-worse guard",
        'judging by IoU (docs/benchmarks.md, "The guard judges SDFs by IoU"); measured only by benches run since.',
        "",
        "| model | edit | accepts | trained on | test INRs | IoU no edit | IoU MLP | IoU DWS pass (returned)"
        " | IoU reference | Chamfer DWS | source fit | PSNR no edit / DWS (MLP)"
        " | held-out meshes IoU no edit / DWS (MLP) | fine-tune time / DWS time at equal MSE |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, card in cards.items():
        q = card["quality"]
        m, h = q.get("meshes", {}), q.get("held_out_meshes")
        mlp = f"{q['mlp_iou']:.3f}" if q.get("mlp_iou") is not None else "-"
        psnr = f"{q['identity_psnr']:.1f} / {q['dws_psnr']:.1f} dB{mlp_text(q, 'psnr')}" if "dws_psnr" in q else "-"
        held = f"{h['identity_iou']:.3f} / {h['dws_iou']:.3f}{mlp_text(h, 'iou')}" if h else "-"
        held += f", returned {h['guarded_iou']:.3f}" if h and "guarded_iou" in h else ""
        if h and "dws_psnr" in h:
            held += f", {h['identity_psnr']:.1f} / {h['dws_psnr']:.1f} dB{mlp_text(h, 'psnr')}"
        if h:
            held += f"; {len(h['meshes']) * h.get('draws', 1)} edits"
        for recipe, o in q.get("other_fits", {}).items():
            held += f"; {recipe} fits {o['identity_iou']:.3f} / {o['dws_iou']:.3f}{mlp_text(o, 'iou')}"
            held += f", refitted {o['refit_dws_iou']:.3f}" if "refit_dws_iou" in o else ""
            held += f", returned {o['guarded_iou']:.3f}" if "guarded_iou" in o else ""
        speed = speedup_text(q)
        returned = f" ({q['guarded_iou']:.3f})" if "guarded_iou" in q else ""
        reference = (f"refit {q['refit_iou']:.3f}" if "refit_iou" in q else f"exact {q['exact_iou']:.3f}"
                     if "exact_iou" in q else "-")  # fmt: skip
        reference += f", {q['refit_psnr']:.1f} dB" if "refit_psnr" in q else ""
        lines.append(
            f"| {_name(name, card)} | {_edit(card)} | {accepts_summary(card)} | {_zoos(card)} "
            f"({card['data']['train_inrs']:,} INRs) | {q['test_inrs']} | {q['identity_iou']:.3f} | {mlp} | "
            f"{q['iou']:.3f}{returned} | {reference} | "
            f"{m.get('dws_chamfer', float('nan')):.4f} | {m.get('source_fit_chamfer', float('nan')):.4f} | {psnr} | "
            f"{held} | {speed} |"
        )
    return lines


def write_index() -> Path:
    """Write ``checkpoints/README.md``: every shipped model with its card's facts and measured quality, a section
    per domain, the training commands and the figures (``checkpoints/figures/<name>-*.png``)."""
    cards = {n: c for n, c in available_models(None).items() if "quality" in c}
    lines = [
        "# Shipped checkpoints",
        "",
        "Each `<name>.safetensors` (weights and statistics buffers; loaded with safetensors, never unpickled)",
        "has a card `<name>.json`: what it does, the INR spec it accepts, the command that trained it, the data,",
        "and its measured quality, written by `dws-edit bench edit --write-cards [--domain sdf|field]`",
        "(scripts/publish_image_edits.sh, scripts/publish_3d_edits.sh).",
    ]
    for domain, title in (("image", "Image edits"), ("sdf", "SDF edits"), ("field", "Colored-field edits")):
        of_domain = {n: c for n, c in cards.items() if c.get("domain") == domain}
        if of_domain:
            lines += ["", f"## {title}", ""]
            lines += _rows_3d(of_domain) if get_domain(domain).has_surface else _image_rows(of_domain)
    tasks = {n: c for n, c in cards.items() if "task" in c}
    if tasks:
        lines += ["", "## The validation tasks' models (docs/tasks.md)", "",
                  "| model | task | accepts | trained on | test quality |", "|---|---|---|---|---|"]  # fmt: skip
        for n, c in tasks.items():
            inputs = "classifiers" if c["task"] == "adapt" else "INRs"  # the adapter's inputs are not INRs
            trained = f"{c['data']['zoo']} ({c['data']['train_inrs']:,} {inputs})"
            lines.append(f"| {n} | {c['task']} | {accepts_summary(c)} | {trained} | {quality_summary(c)} |")
    lines += ["", "Training commands (from the cards):", ""]
    lines += [f"- {name}: {_commands(card)}" for name, card in cards.items()]
    lines += ["", "Before/after (image rows: source INR, exact target, DWS edit, MLP edit; 3-D rows: source, exact",
              "target, DWS edit) and error against time:", ""]  # fmt: skip
    for name in (n for n in cards if n not in tasks):
        lines += [f"![{name}](figures/{name}-before-after.png) ![{name}](figures/{name}-error-vs-time.png)", ""]
    path = checkpoint_dir() / "README.md"
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())
    return path


def plot_error_vs_time(path: Path, name: str, row: dict, lr: float) -> None:
    """Error against wall time: fine-tuning's curve, the hybrid's, the DWS model, the MLP and the identity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ft, hy = row["finetune"], row["hybrid"]
    ax.plot([f["seconds"] for f in ft], [f["mse"] for f in ft], "o-", label=f"fine-tuning (Adam lr {lr:g})")
    hybrid_lr = f" (lr {row['hybrid_lr']:g})" if "hybrid_lr" in row else ""
    ax.plot([h["seconds"] for h in hy], [h["mse"] for h in hy], "s-", label=f"DWS + fine-tuning{hybrid_lr}")
    ax.scatter([row["dws_seconds"]], [row["dws_mse"]], marker="*", s=150, color="C3", zorder=3, label="DWS model")
    if "mlp_mse" in row:
        ax.scatter([row["mlp_seconds"]], [row["mlp_mse"]], marker="x", s=80, color="k", label="FlatMLPEditNet")
    ax.axhline(row["identity_mse"], ls="--", color="gray", label="identity (no edit)")
    ax.set(xscale="log", yscale="log", xlabel=f"seconds for {row['inrs']} INRs (CPU)", ylabel="MSE")
    ax.set_title(name)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["plot_error_vs_time", "write_index", "write_quality"]
