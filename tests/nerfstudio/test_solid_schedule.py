"""dws-nerf's solid start (docs/nerf.md, "Solid runs"): the training's density scale rises log-linearly from
``solid_scale`` to ``density_scale`` over ``solid_steps``, set before each training iteration by a nerfstudio
training callback; a model built to render (ns-render, ns-viewer: no callbacks run) uses ``density_scale``."""

import math

import pytest
import torch
from nerfstudio.data.scene_box import SceneBox
from nerfstudio.engine.callbacks import TrainingCallbackLocation

from nerfstudio_plugin.model import DWSNerfModelConfig


def _model(**options):
    box = SceneBox(aabb=torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]))
    return DWSNerfModelConfig(hidden=(8, 8), **options).setup(scene_box=box, num_train_data=1)


def test_the_training_density_scale_rises_from_the_solid_start_to_the_runs_scale():
    model = _model(solid_scale=10.0, solid_steps=100)
    assert model.field.density_scale == 100.0  # as built for rendering
    (callback,) = model.get_training_callbacks(None)
    expected = {0: 10.0, 50: math.sqrt(10.0 * 100.0), 99: 10.0 * 10 ** (99 / 100), 100: 100.0, 5000: 100.0}
    for step, scale in expected.items():
        callback.run_callback_at_location(step, TrainingCallbackLocation.BEFORE_TRAIN_ITERATION)
        assert model.field.density_scale == pytest.approx(scale)


def test_without_a_solid_start_the_scale_stays():
    model = _model()
    (callback,) = model.get_training_callbacks(None)
    callback.run_callback_at_location(0, TrainingCallbackLocation.BEFORE_TRAIN_ITERATION)
    assert model.field.density_scale == 100.0 and model.density_scale_at(0) == 100.0
