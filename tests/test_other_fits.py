"""SDF SIRENs fitted by other code (dws_edit.bench.other_fits): the network, its import, the two recipes."""

import pytest
import torch
import trimesh

from dws_edit.bench.other_fits import RECIPES, _vsitzmann_state_dict, fit_siren_sdf, siren_module
from dws_edit.inr import evaluate, import_siren, sdf_spec


def test_the_module_imports_as_the_same_function():
    net = siren_module((3, 32, 32, 1), 30.0, torch.Generator().manual_seed(0))
    ws = import_siren(_vsitzmann_state_dict(net), format="vsitzmann", w0=15.0)
    x = torch.rand(300, 3) * 2 - 1
    assert ws.spec == sdf_spec()
    assert torch.allclose(evaluate(ws, x)[0], net(x), atol=1e-5)
    first = net[0].weight
    assert first.abs().max() <= 1 / 3 and net[2].weight.abs().max() <= (6 / 32) ** 0.5 / 30  # SIREN's init


@pytest.mark.parametrize("recipe", RECIPES)
def test_each_recipe_puts_the_zero_level_on_the_surface(recipe):
    mesh = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    ws = fit_siren_sdf(mesh, recipe, steps=150 if recipe == "eikonal" else 1500, points=1024)
    surface = torch.as_tensor(trimesh.sample.sample_surface(mesh, 500, seed=0)[0], dtype=torch.float32)
    on, far = evaluate(ws, surface)[0, :, 0], evaluate(ws, torch.tensor([[0.95, 0.95, 0.95]]))[0, 0, 0]
    assert 0 < 5 * on.abs().mean() < far  # zero on the surface, positive far outside
    if recipe == "deepsdf":  # signed distances given: negative inside (the eikonal recipe constrains no sign there)
        assert evaluate(ws, torch.zeros(1, 3))[0, 0, 0] < 0


def test_mistakes_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown recipe 'igr'; accepted: eikonal, deepsdf"):
        fit_siren_sdf(trimesh.creation.box(), "igr")
    with pytest.raises(ValueError, match="the mesh has no faces"):
        fit_siren_sdf(trimesh.Trimesh(vertices=[[0, 0, 0]], faces=[]))
