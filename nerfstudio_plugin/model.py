"""The dws-nerf model: one :class:`~nerfstudio_plugin.field.SirenField`, NeRF's two-pass sampling through it.

Rays are clipped to the cube [-1, 1]^3 where the field lives (nerfstudio's ``AABBBoxCollider``), sampled uniformly
(``num_coarse_samples``) and again where the coarse pass put its weight (``PDFSampler``, ``num_importance_samples``
plus the coarse ones), as vanilla NeRF does (Mildenhall et al. 2020) but with ONE field, so the run is one INR.
Composited on a white background (the scenes of ``dws-edit make-scene``); photometric MSE on both passes; PSNR
and SSIM as metrics (no LPIPS: torchmetrics downloads its AlexNet weights at construction).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from nerfstudio.cameras.rays import RayBundle
from nerfstudio.data.scene_box import SceneBox
from nerfstudio.engine.callbacks import TrainingCallback, TrainingCallbackLocation
from nerfstudio.field_components.field_heads import FieldHeadNames
from nerfstudio.model_components.losses import MSELoss
from nerfstudio.model_components.ray_samplers import PDFSampler, UniformSampler
from nerfstudio.model_components.renderers import AccumulationRenderer, DepthRenderer, RGBRenderer
from nerfstudio.model_components.scene_colliders import AABBBoxCollider
from nerfstudio.models.base_model import Model, ModelConfig
from nerfstudio.utils import colormaps
from torchmetrics.functional import structural_similarity_index_measure
from torchmetrics.image import PeakSignalNoiseRatio

from nerfstudio_plugin.field import SirenField


@dataclass
class DWSNerfModelConfig(ModelConfig):
    """A NeRF whose field is one SIREN of dws-edit's field domain (edited by ns-edit)."""

    _target: type = field(default_factory=lambda: DWSNerfModel)
    hidden: tuple[int, ...] = (32, 32)
    """Hidden widths of the SIREN field 3 -> hidden -> 4 (docs/nerf.md: how they were chosen)."""
    w0: float = 15.0
    """SIREN frequency of the hidden layers (dws-edit's 3-D INRs: 15)."""
    density_scale: float = 100.0
    """Volume density per unit of the field's density output (dws_edit.render.field_sigma)."""
    solid_scale: float = 10.0
    """Volume density per unit of density at the first iteration, raised log-linearly to ``density_scale`` over
    the solid start: to be opaque early the field must push its density up, nearer the fitted fields the edit
    models learn on (docs/nerf.md, "Solid start": +2.0 dB test PSNR on 5 of 5 scenes at 2,000 iterations); the run
    renders with ``density_scale`` once trained."""
    solid_steps: int = 1000
    """Iterations of the solid start (at most half of the run's ``--max-num-iterations``; 0: off, the scale stays
    ``density_scale`` throughout)."""
    num_coarse_samples: int = 64
    """Uniform samples per ray inside the cube [-1, 1]^3."""
    num_importance_samples: int = 64
    """Samples per ray drawn from the coarse weights (the fine pass also keeps the coarse ones)."""
    seed: int = 0
    """Seed of the field's initialisation."""


class DWSNerfModel(Model):
    """See the module docstring. Outputs ``rgb``, ``accumulation``, ``depth`` (fine pass) and ``rgb_coarse``."""

    config: DWSNerfModelConfig

    def populate_modules(self) -> None:
        super().populate_modules()
        c = self.config
        if c.solid_steps < 0 or not c.solid_scale > 0:
            raise ValueError(f"solid_steps {c.solid_steps}, solid_scale {c.solid_scale}: accepted: solid_steps >= 0 "
                             "and solid_scale > 0")  # fmt: skip
        self.field = SirenField(c.hidden, c.w0, c.density_scale, c.seed)
        self.collider = AABBBoxCollider(SceneBox(aabb=torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])))
        self.sampler_uniform = UniformSampler(num_samples=c.num_coarse_samples)
        self.sampler_pdf = PDFSampler(num_samples=c.num_importance_samples, include_original=True)
        self.renderer_rgb = RGBRenderer(background_color="white")
        self.renderer_accumulation = AccumulationRenderer()
        self.renderer_depth = DepthRenderer()
        self.rgb_loss = MSELoss()
        self.psnr = PeakSignalNoiseRatio(data_range=1.0)

    def get_param_groups(self) -> dict:
        return {"fields": list(self.field.parameters())}

    def density_scale_at(self, step: int, iterations: int | None = None) -> float:
        """The training's density scale at iteration ``step`` of a run of ``iterations`` (``solid_scale`` ->
        ``density_scale`` over ``solid_steps``, at most ``iterations / 2``)."""
        c = self.config
        steps = c.solid_steps if iterations is None else min(c.solid_steps, iterations // 2)
        if steps <= 0 or step >= steps:
            return float(c.density_scale)
        return float(c.solid_scale * (c.density_scale / c.solid_scale) ** (step / steps))

    def get_training_callbacks(self, training_callback_attributes) -> list[TrainingCallback]:
        trainer = getattr(training_callback_attributes, "trainer", None)
        iterations = trainer.config.max_num_iterations if trainer is not None else None

        def set_scale(step: int) -> None:
            self.field.density_scale = self.density_scale_at(step, iterations)

        before = [TrainingCallbackLocation.BEFORE_TRAIN_ITERATION]
        return [TrainingCallback(before, set_scale, update_every_num_iters=1)]

    def _render(self, ray_samples):
        out = self.field(ray_samples)
        weights = ray_samples.get_weights(out[FieldHeadNames.DENSITY])
        rgb = self.renderer_rgb(rgb=out[FieldHeadNames.RGB], weights=weights)
        return weights, rgb, self.renderer_accumulation(weights=weights), self.renderer_depth(weights, ray_samples)

    def get_outputs(self, ray_bundle: RayBundle) -> dict:
        coarse = self.sampler_uniform(ray_bundle)
        weights, rgb_coarse, acc_coarse, _ = self._render(coarse)
        fine = self.sampler_pdf(ray_bundle, coarse, weights)
        _, rgb, acc, depth = self._render(fine)
        return {"rgb": rgb, "accumulation": acc, "depth": depth, "rgb_coarse": rgb_coarse,
                "accumulation_coarse": acc_coarse}  # fmt: skip

    def get_metrics_dict(self, outputs, batch) -> dict:
        image = self.renderer_rgb.blend_background(batch["image"].to(self.device))
        return {"psnr": self.psnr(outputs["rgb"], image)}

    def get_loss_dict(self, outputs, batch, metrics_dict=None) -> dict:
        image = batch["image"].to(self.device)
        losses = {}
        for name, rgb, acc in (("rgb_loss_coarse", "rgb_coarse", "accumulation_coarse"),
                               ("rgb_loss", "rgb", "accumulation")):  # fmt: skip
            pred, gt = self.renderer_rgb.blend_background_for_loss_computation(
                pred_image=outputs[rgb], pred_accumulation=outputs[acc], gt_image=image
            )
            losses[name] = self.rgb_loss(gt, pred)
        return losses

    def get_image_metrics_and_images(self, outputs, batch) -> tuple[dict, dict]:
        image = self.renderer_rgb.blend_background(batch["image"].to(outputs["rgb"].device))
        gt, pred = torch.moveaxis(image, -1, 0)[None], torch.moveaxis(outputs["rgb"], -1, 0)[None]
        metrics = {"psnr": float(self.psnr(gt, pred)), "ssim": float(structural_similarity_index_measure(pred, gt))}
        acc = colormaps.apply_colormap(outputs["accumulation"])
        depth = colormaps.apply_depth_colormap(outputs["depth"], accumulation=outputs["accumulation"])
        return metrics, {"img": torch.cat([image, outputs["rgb"]], dim=1), "accumulation": acc, "depth": depth}

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Always strict. nerfstudio's ``Pipeline.load_state_dict`` retries with ``strict=False`` when the keys
        differ (base_pipeline.py, nerfstudio 1.1.5), which would keep freshly initialised weights for a field that
        does not match its config; here that is an error naming the keys."""
        return super().load_state_dict(state_dict, strict=True, assign=assign)
