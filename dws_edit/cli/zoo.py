"""``dws-edit zoo <command>``: look at fitted zoos."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tyro
from rich.table import Table

from dws_edit.console import console
from dws_edit.data.zoo import load_zoo, quality_text, read_manifest, target_text, zoo_summary


@dataclass
class ZooInfo:
    """Print the size, splits, fit quality and wall time of fitted zoos (from their manifests)."""

    paths: tyro.conf.Positional[tuple[Path, ...]] = ()
    """Zoo directories (each holds a manifest.json; default: every zoo in zoos/)."""

    def run(self) -> list[dict]:
        """Print one table row per zoo; returns the rows: path, the zoo's summary and its fit wall time (s). Raises
        ValueError (one line) when no path is given and zoos/ holds no zoo."""
        paths = self.paths or tuple(sorted(p.parent for p in Path("zoos").glob("*/manifest.json")))
        if not paths:
            raise ValueError("no zoo given and zoos/ holds none; accepted: zoo folders (dws-edit fit ... --out DIR)")
        table = Table(title="zoos")
        columns = ("zoo", "source", "spec", "INRs", "train/val/test", "quality", "reached", "MB", "fit wall time")
        for col in columns:
            table.add_column(col)
        rows = []
        for path in paths:
            m = read_manifest(path)
            s = m.get("summary") or zoo_summary(load_zoo(path, "all", check_complete=False), path)
            src = m["source"]
            reached = f"{100 * s['reached_target']:.2f}% ({target_text(m)})" if "reached_target" in s else "-"
            if s.get("met_min_reached") is False:
                reached += f" [red]FAILED (min {100 * s['min_reached']:.0f}%)[/]"
            wall = m.get("record", {}).get("wall_time_s")
            table.add_row(
                str(path), src.get("dataset") or src["kind"], "->".join(map(str, m["spec"]["layer_sizes"])),
                f"{s['inrs']:,}", f"{s['train_inrs']:,}/{s['val_inrs']:,}/{s['test_inrs']:,}", quality_text(s),
                reached, f"{s['bytes'] / 1e6:.0f}", f"{wall / 60:.1f} min" if wall else "-",
            )  # fmt: skip
            rows.append({"path": str(path), **s, "wall_time_s": wall})
        console.print(table)
        return rows


ZOO_COMMANDS: dict[str, type] = {"info": ZooInfo}
