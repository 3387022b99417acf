"""The table and lines ``dws-edit bench edit --domain sdf|field`` prints from its measurements
(:mod:`dws_edit.bench.edit3d`)."""

from __future__ import annotations

from dws_edit.bench.common import mlp_text, seconds_text, speedup_text
from dws_edit.console import console


def returned_text(changed: dict) -> str:
    """The text ``, returned X``: the mean IoU of what ``dws_edit.edit`` returned over a ``changed`` subset (or "")."""
    return f", returned {changed['guarded_iou']:.3f}" if changed.get("guarded_iou") is not None else ""


def acts_text(changed: dict) -> str:
    """The text `` (where it acts, n: no edit X, returned Y)`` for a ``changed`` subset with INRs (or "")."""
    if not changed["inrs"] or changed.get("guarded_iou") is None:
        return ""
    return f" (where it acts, {changed['inrs']}: no edit {changed['identity_iou']:.3f}{returned_text(changed)})"


def print_table(rows: dict, domain: str) -> None:
    from rich.table import Table

    table = Table(title=f"{domain} edits, test split: IoU (128^3) and MSE at points against the exact edit")
    cols = ("model", "IoU id", "IoU MLP", "IoU DWS", "MSE id", "MSE DWS", "removed", "Chamfer DWS (MLP)", "source fit",
            "DWS s", "FT s to DWS MSE", "speed-up", "held-out IoU id/DWS (MLP)")  # fmt: skip
    for c in cols:
        table.add_column(c, justify="left" if c == "model" else "right")
    for name, r in rows.items():
        m, h = r["meshes"], r.get("held_out_meshes")
        table.add_row(
            name, f"{r['identity_iou']:.3f}", f"{r['mlp_iou']:.3f}" if "mlp_iou" in r else "-", f"{r['dws_iou']:.3f}",
            f"{r['identity_mse']:.2e}", f"{r['dws_mse']:.2e}", f"{100 * r['removed']:.0f}%",
            f"{m.get('dws_chamfer', float('nan')):.4f}{mlp_text(m, 'chamfer', '.4f')}",
            f"{m.get('source_fit_chamfer', float('nan')):.4f}", f"{r['dws_seconds']:.3f}", seconds_text(r),
            speedup_text(r),
            f"{h['identity_iou']:.3f} / {h['dws_iou']:.3f}{mlp_text(h, 'iou')}" if h else "-",
        )  # fmt: skip
    console.print(table)
    for name, r in rows.items():
        c = r.get("changed")
        if c and c["inrs"]:
            ious = f"no edit {c['identity_iou']:.3f}, DWS {c['dws_iou']:.3f}{mlp_text(c, 'iou')}{returned_text(c)}"
            h = (r.get("held_out_meshes") or {}).get("changed")
            held = (
                f"; held-out meshes ({h['inrs']}): {h['identity_iou']:.3f} / {h['dws_iou']:.3f}{mlp_text(h, 'iou')}"
                f"{returned_text(h)}"
                if h and h["inrs"]
                else ""
            )
            console.print(f"{name}: IoU on the {c['inrs']} of {r['inrs']} INRs the edit changes (no edit's IoU < "
                          f"{c['threshold']}): {ious}{held}")  # fmt: skip
    for name, r in rows.items():
        if "guarded_iou" in r:
            sets = [("held-out meshes", r.get("held_out_meshes"))]
            sets += [(f"{recipe} fits", o) for recipe, o in r.get("other_fits", {}).items()]
            held = "".join(
                f"; {label}: {o['guarded_iou']:.3f} (no edit {o['identity_iou']:.3f}), worse than "
                f"no edit on {o['guarded_worse']} of {len(o['meshes']) * o['draws']}{acts_text(o['changed'])}"
                for label, o in sets
                if o and "guarded_worse" in o
            )
            console.print(f"{name}: as dws_edit.edit returns it (pass, default refine, guard): IoU "
                          f"{r['guarded_iou']:.3f}, worse than no edit on {r['guarded_worse']} of {r['inrs']}"
                          f"{acts_text(r['changed'])}, {r['guarded_seconds'] / r['inrs']:.3f} s/INR{held}")  # fmt: skip
    for name, r in rows.items():
        for recipe, o in r.get("other_fits", {}).items():
            console.print(f"{name}: held-out meshes fitted by other code ({recipe}): IoU no edit "
                          f"{o['identity_iou']:.3f}, DWS {o['dws_iou']:.3f}{mlp_text(o, 'iou')}, DWS after refit "
                          f"{o['refit_dws_iou']:.3f}")  # fmt: skip
    for name, r in rows.items():
        if "dws_psnr" in r:
            h = r.get("held_out_meshes") or {}
            held = (f"; held-out meshes: identity {h['identity_psnr']:.1f} dB, DWS {h['dws_psnr']:.1f} dB"
                    f"{mlp_text(h, 'psnr')}" if h else "")  # fmt: skip
            views = f"views PSNR identity {r['identity_psnr']:.1f} dB, DWS {r['dws_psnr']:.1f} dB{mlp_text(r, 'psnr')}"
            console.print(f"{name}: {views}{held}")
    for name, r in rows.items():
        if "refit_iou" in r:
            views = f", views PSNR {r['refit_psnr']:.1f} dB" if "refit_psnr" in r else ""
            console.print(f"{name}: the edited shapes refitted with the zoo's recipe (the ceiling): "
                          f"IoU {r['refit_iou']:.3f}, MSE {r['refit_mse']:.2e}{views}, "
                          f"{r['refit_seconds']:.1f} s")  # fmt: skip
        if "exact_iou" in r:
            console.print(f"{name}: the closed form (exact=True): IoU {r['exact_iou']:.3f}, MSE {r['exact_mse']:.2e}, "
                          f"{r['exact_seconds']:.4f} s")  # fmt: skip
