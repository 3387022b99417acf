import numpy as np
import pytest
import torch
import trimesh

from dws_edit.data.fields import field_targets
from dws_edit.data.meshes import MESH_EXTENSIONS, MeshShape, load_mesh, mesh_sdf
from dws_edit.data.shapes import sample_sdf_points


def sphere_bounds(mesh, r):
    """An icosphere with its vertices on the sphere of radius r lies between that sphere and the sphere through
    its faces' planes: ``|p| - r <= sdf <= |p| - r_in``."""
    normals, v0 = mesh.face_normals, mesh.vertices[mesh.faces[:, 0]]
    return float(np.abs((normals * v0).sum(axis=1)).min())


@pytest.mark.parametrize("ext", [".obj", ".stl", ".ply", ".off", ".glb"])
def test_load_mesh_round_trip(tmp_path, ext):
    box = trimesh.creation.box(extents=(0.4, 0.6, 1.0))
    box.apply_translation((0.3, -0.2, 0.1))
    path = tmp_path / f"box{ext}"
    box.export(path)
    raw = load_mesh(path, normalize=False)
    assert isinstance(raw, trimesh.Trimesh) and len(raw.faces) == 12 and raw.is_watertight
    np.testing.assert_allclose(raw.bounds, box.bounds, atol=1e-6)
    unit = load_mesh(path)
    np.testing.assert_allclose(unit.bounds, [[-0.32, -0.48, -0.8], [0.32, 0.48, 0.8]], atol=1e-6)


def test_load_mesh_concatenates_a_scene(tmp_path):
    scene = trimesh.Scene([trimesh.creation.box(extents=(1, 1, 1)), trimesh.creation.icosphere(radius=0.3)])
    scene.geometry["geometry_1"].apply_translation((2.0, 0.0, 0.0))
    path = tmp_path / "scene.glb"
    scene.export(path)
    mesh = load_mesh(path, normalize=False)
    assert len(mesh.faces) == 12 + len(trimesh.creation.icosphere().faces)


def test_load_mesh_errors_name_the_file(tmp_path):
    bad_ext = tmp_path / "shape.xyz"
    bad_ext.write_text("v 0 0 0\n")
    with pytest.raises(ValueError, match="shape.xyz") as err:
        load_mesh(bad_ext)
    assert all(ext in str(err.value) for ext in MESH_EXTENSIONS) and "\n" not in str(err.value)
    for name, data in (("garbage.obj", b"\x00\xff not a mesh \x13" * 20), ("garbage.ply", b"\x89junk" * 50)):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ValueError, match=name) as err:
            load_mesh(path)
        assert ".obj" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match="missing.stl"):
        load_mesh(tmp_path / "missing.stl")


def test_mesh_sdf_of_a_sphere():
    r = 0.5
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=r)
    r_in = sphere_bounds(mesh, r)
    assert 0 < r - r_in < 0.01
    p = torch.rand(3000, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    d = mesh_sdf(mesh, p)
    assert d.shape == (3000,) and d.dtype == torch.float32
    exact = p.norm(dim=-1) - r
    assert (d >= exact - 1e-5).all() and (d <= exact + (r - r_in) + 1e-5).all()
    assert (d[exact < -(r - r_in)] < 0).all() and (d[exact > 0] > 0).all()
    assert mesh_sdf(mesh, p.double().reshape(30, 100, 3)).shape == (30, 100)


def test_mesh_sdf_needs_a_watertight_mesh():
    sphere = trimesh.creation.icosphere(subdivisions=2)
    holed = trimesh.Trimesh(sphere.vertices, sphere.faces[1:], process=False)
    assert not holed.is_watertight
    with pytest.raises(ValueError, match="watertight") as err:
        mesh_sdf(holed, torch.zeros(4, 3))
    assert "fill_holes" in str(err.value)
    with pytest.raises(ValueError, match="watertight"):
        MeshShape(holed)


def test_mesh_shape_works_with_the_samplers(tmp_path):
    path = tmp_path / "ball.stl"
    trimesh.creation.icosphere(subdivisions=3, radius=2.0).export(path)
    ball = MeshShape.from_path(path, color=(0.2, 0.4, 0.6))  # normalized: radius 0.8
    r = 0.8
    r_in = sphere_bounds(ball.mesh, r)
    p, d = sample_sdf_points(ball, 600, torch.Generator().manual_seed(1), near_surface=1.0, sigma=0.0)
    p2, d2 = sample_sdf_points(ball, 600, torch.Generator().manual_seed(1), near_surface=1.0, sigma=0.0)
    assert torch.equal(p, p2) and torch.equal(d, d2)
    assert (d.abs() < 1e-3).float().mean() > 0.95
    assert ((p.norm(dim=-1) - r).abs() < (r - r_in) + 1e-3).float().mean() > 0.95
    assert ball.sdf(p.double()).dtype == torch.float64
    targets = field_targets(ball, torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
    torch.testing.assert_close(targets[:, 1:], torch.tensor([[0.2, 0.4, 0.6]] * 2))
    assert targets[0, 0] > 0.99 and targets[1, 0] < 0.01
    assert ball.part_names == ("mesh",)
