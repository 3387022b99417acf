"""dws-nerf's solid start (docs/nerf.md, "Solid start"): the training's density scale rises log-linearly from
``solid_scale`` to ``density_scale`` over ``solid_steps`` (at most half the run's iterations), set before each
training iteration by a nerfstudio training callback; a model built to render (ns-render, ns-viewer: no callbacks
run) uses ``density_scale``."""

import math
from types import SimpleNamespace

import pytest
import torch
from nerfstudio.data.scene_box import SceneBox
from nerfstudio.engine.callbacks import TrainingCallbackLocation

from nerfstudio_plugin.model import DWSNerfModelConfig

BEFORE = TrainingCallbackLocation.BEFORE_TRAIN_ITERATION


def _model(**options):
    box = SceneBox(aabb=torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]))
    return DWSNerfModelConfig(hidden=(8, 8), **options).setup(scene_box=box, num_train_data=1)


def _trainer(iterations: int):
    return SimpleNamespace(trainer=SimpleNamespace(config=SimpleNamespace(max_num_iterations=iterations)))


def test_the_training_density_scale_rises_from_the_solid_start_to_the_runs_scale():
    model = _model()  # the method's default: 10 -> 100 over 1,000 iterations
    assert model.field.density_scale == 100.0  # as built for rendering
    (callback,) = model.get_training_callbacks(_trainer(2000))
    expected = {0: 10.0, 500: math.sqrt(10.0 * 100.0), 999: 10.0 * 10 ** (999 / 1000), 1000: 100.0, 5000: 100.0}
    for step, scale in expected.items():
        callback.run_callback_at_location(step, BEFORE)
        assert model.field.density_scale == pytest.approx(scale)


def test_a_short_run_rises_over_half_its_iterations():
    model = _model()
    (callback,) = model.get_training_callbacks(_trainer(300))
    for step, scale in {0: 10.0, 75: math.sqrt(10.0 * 100.0), 150: 100.0}.items():
        callback.run_callback_at_location(step, BEFORE)
        assert model.field.density_scale == pytest.approx(scale)


def test_without_a_solid_start_the_scale_stays():
    model = _model(solid_steps=0)
    (callback,) = model.get_training_callbacks(_trainer(2000))
    callback.run_callback_at_location(0, BEFORE)
    assert model.field.density_scale == 100.0 and model.density_scale_at(0) == 100.0


def test_a_bad_schedule_is_refused_in_one_line():
    with pytest.raises(ValueError, match="accepted: solid_steps >= 0 and solid_scale > 0"):
        _model(solid_scale=0.0)
