"""The ``dws-nerf`` method for nerfstudio, registered through the ``nerfstudio.method_configs`` entry point.

``ns-train dws-nerf --data SCENE`` trains one SIREN field (:mod:`nerfstudio_plugin.model`) on a Blender-format
scene (``dws-edit make-scene`` writes them), on a GPU when there is one and otherwise on the CPU, and ends when
done (the viewer quits on completion; ``ns-viewer`` shows a finished run). Checkpoints hold no numpy objects (the
learning-rate schedule returns Python floats), so torch >= 2.6 loads them with ``weights_only=True``: ns-render,
ns-viewer, ns-eval and resuming work on the installed torch without turning off safe loading (nerfstudio 1.1.5's
own schedulers store numpy floats, which torch refuses: nerfstudio issue #3683).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from nerfstudio.configs.base_config import MachineConfig, ViewerConfig
from nerfstudio.data.datamanagers.base_datamanager import VanillaDataManagerConfig
from nerfstudio.data.dataparsers.blender_dataparser import BlenderDataParserConfig
from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.engine.schedulers import Scheduler, SchedulerConfig
from nerfstudio.engine.trainer import TrainerConfig
from nerfstudio.pipelines.base_pipeline import VanillaPipelineConfig
from nerfstudio.plugins.types import MethodSpecification
from torch.optim import lr_scheduler

from nerfstudio_plugin.model import DWSNerfModelConfig


@dataclass
class LogDecaySchedulerConfig(SchedulerConfig):
    """Learning rate decaying log-linearly from the optimizer's rate to ``lr_final`` over ``max_steps``."""

    _target: type = field(default_factory=lambda: LogDecayScheduler)
    lr_final: float = 1e-4
    max_steps: int = 3000


class LogDecayScheduler(Scheduler):
    """A ``LambdaLR`` whose factors are Python floats (never numpy: checkpoints stay loadable with
    ``weights_only=True``)."""

    config: LogDecaySchedulerConfig

    def get_scheduler(self, optimizer, lr_init: float) -> lr_scheduler.LRScheduler:
        ratio, steps = self.config.lr_final / lr_init, max(self.config.max_steps, 1)

        def factor(step: int) -> float:
            return float(math.exp(math.log(ratio) * min(step / steps, 1.0)))

        return lr_scheduler.LambdaLR(optimizer, lr_lambda=factor)


ITERATIONS = 2000

dws_nerf = MethodSpecification(
    config=TrainerConfig(
        method_name="dws-nerf",
        steps_per_eval_batch=500,
        steps_per_eval_image=500,
        steps_per_save=1000,
        max_num_iterations=ITERATIONS,
        mixed_precision=False,
        machine=MachineConfig(device_type="cuda" if torch.cuda.is_available() else "cpu"),
        pipeline=VanillaPipelineConfig(
            datamanager=VanillaDataManagerConfig(
                dataparser=BlenderDataParserConfig(), train_num_rays_per_batch=1024, eval_num_rays_per_batch=1024
            ),
            model=DWSNerfModelConfig(eval_num_rays_per_chunk=4096),
        ),
        optimizers={
            "fields": {
                "optimizer": AdamOptimizerConfig(lr=1e-3, eps=1e-15),
                "scheduler": LogDecaySchedulerConfig(lr_final=1e-4, max_steps=ITERATIONS),
            }
        },  # fmt: skip
        viewer=ViewerConfig(num_rays_per_chunk=4096, quit_on_train_completion=True),
        vis="viewer",
    ),
    description="dws-edit: a NeRF whose field is one SIREN that DWS models edit in weight space (ns-edit)",
)
