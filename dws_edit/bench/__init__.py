"""``dws-edit bench <name>``: side-by-side benchmarks; each measures its baselines in the same run and
prints the ratios (machines of one type differ several-fold in absolute speed: only same-run ratios compare)."""

from dws_edit.bench.edit import BenchEdit
from dws_edit.bench.fit import BenchFit
from dws_edit.bench.guard import BenchGuard
from dws_edit.bench.layers import BenchLayers
from dws_edit.bench.mesh_fit import BenchMeshFit

BENCHES = {"layers": BenchLayers, "fit": BenchFit, "mesh-fit": BenchMeshFit, "edit": BenchEdit, "guard": BenchGuard}

__all__ = ["BENCHES", "BenchEdit", "BenchFit", "BenchGuard", "BenchLayers", "BenchMeshFit"]
