"""``dws-edit bench <name>``: side-by-side benchmarks; each measures its baselines in the same run and
prints the ratios (machines of one type differ several-fold in absolute speed: only same-run ratios compare)."""

from dws_edit.bench.chain import BenchChain
from dws_edit.bench.edit import BenchEdit
from dws_edit.bench.evaluate import BenchEvaluate
from dws_edit.bench.fit import BenchFit
from dws_edit.bench.guard import BenchGuard
from dws_edit.bench.layers import BenchLayers
from dws_edit.bench.mesh_fit import BenchMeshFit
from dws_edit.bench.nerf import BenchNerf
from dws_edit.bench.ood import BenchOOD
from dws_edit.bench.pretrain import BenchPretrain
from dws_edit.bench.scaling import BenchScaling
from dws_edit.bench.train_step import BenchTrainStep

BENCHES = {"layers": BenchLayers, "fit": BenchFit, "mesh-fit": BenchMeshFit, "edit": BenchEdit, "guard": BenchGuard,
           "chain": BenchChain, "train-step": BenchTrainStep, "ood": BenchOOD, "nerf": BenchNerf,
           "pretrain": BenchPretrain, "scaling": BenchScaling, "evaluate": BenchEvaluate}  # fmt: skip

__all__ = [
    "BENCHES",
    "BenchChain",
    "BenchEdit",
    "BenchEvaluate",
    "BenchFit",
    "BenchGuard",
    "BenchLayers",
    "BenchMeshFit",
    "BenchNerf",
    "BenchOOD",
    "BenchPretrain",
    "BenchScaling",
    "BenchTrainStep",
]
