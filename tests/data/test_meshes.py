import numpy as np
import pytest
import torch
import trimesh

from dws_edit.data.fields import field_targets
from dws_edit.data.meshes import MESH_EXTENSIONS, MeshShape, MeshWarning, load_mesh, mesh_sdf, prepare_mesh
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


def test_fit_mesh_fits_a_colored_field(tmp_path):
    from dws_edit.api import fit_shape
    from dws_edit.inr import evaluate

    ball = MeshShape(prepare_mesh(trimesh.creation.icosphere(subdivisions=3, radius=2.0)), color=(0.2, 0.4, 0.6))
    ws = fit_shape(ball, points=4096, max_steps=300, lr=3e-3, field=True)
    assert ws.spec.layer_sizes == (3, 32, 32, 4) and ws.batch_size == 1
    with torch.no_grad():
        values = evaluate(ws, torch.tensor([[0.0, 0.0, 0.0], [0.95, 0.95, 0.95]]))[0]
    assert values[0, 0] > 0.8 and values[1, 0] < 0.2  # density: inside the ball, not in the corner
    torch.testing.assert_close(values[0, 1:], torch.tensor([0.2, 0.4, 0.6]), atol=0.1, rtol=0)


# --- meshes as users have them: each case from the field, its right value a test ------------------------------------

CUBE_OBJ = """# Blender-style export: per-face normals and UVs split every corner of the cube
v -1 -1 -1
v 1 -1 -1
v 1 1 -1
v -1 1 -1
v -1 -1 1
v 1 -1 1
v 1 1 1
v -1 1 1
vt 0 0
vt 1 0
vt 1 1
vt 0 1
vn 0 0 -1
vn 0 0 1
vn 0 -1 0
vn 0 1 0
vn -1 0 0
vn 1 0 0
f 1/1/1 4/4/1 3/3/1
f 1/1/1 3/3/1 2/2/1
f 5/1/2 6/2/2 7/3/2
f 5/1/2 7/3/2 8/4/2
f 1/1/3 2/2/3 6/3/3
f 1/1/3 6/3/3 5/4/3
f 4/1/4 8/4/4 7/3/4
f 4/1/4 7/3/4 3/2/4
f 1/1/5 5/2/5 8/3/5
f 1/1/5 8/3/5 4/4/5
f 2/1/6 3/2/6 7/3/6
f 2/1/6 7/3/6 6/4/6
"""


def test_obj_with_uv_and_normal_seams_is_one_closed_cube(tmp_path, recwarn):
    path = tmp_path / "cube.obj"
    path.write_text(CUBE_OBJ)
    mesh = load_mesh(path)
    assert len(mesh.vertices) == 8 and mesh.is_watertight
    d = MeshShape(mesh).sdf(torch.tensor([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [1.0, 0.0, 0.0]]))
    torch.testing.assert_close(d, torch.tensor([-0.8, -0.3, 0.2]), atol=1e-5, rtol=0)
    assert not [w for w in recwarn if issubclass(w.category, MeshWarning)]


def test_overlapping_closed_parts_are_inside_wherever_one_part_is(tmp_path):
    along_z = trimesh.creation.cylinder(radius=0.2, height=1.2, sections=64)
    along_x = trimesh.creation.cylinder(radius=0.2, height=1.2, sections=64)
    along_x.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (0, 1, 0)))
    path = tmp_path / "cross.glb"
    trimesh.Scene([along_z, along_x]).export(path)
    shape = MeshShape(load_mesh(path, normalize=False))
    p = torch.tensor([[0.0, 0.0, 0.0], [0.1, 0.0, 0.05], [0.0, 0.0, 0.5], [0.5, 0.0, 0.0], [0.3, 0.0, 0.3]])
    d = shape.sdf(p)
    inscribed = 0.2 * np.cos(np.pi / 64)
    # at the crossing: the depth inside either cylinder (not the distance to the other's buried faces)
    assert d[0] == pytest.approx(-inscribed, abs=1e-4)
    assert d[1] < -0.1 and d[2] == pytest.approx(-0.1, abs=1e-4) and d[3] == pytest.approx(-0.1, abs=1e-4)  # end caps
    assert d[4] > 0


def test_draco_compressed_glb_is_decoded(tmp_path):
    import json
    import struct

    import DracoPy

    box = trimesh.creation.box(extents=(0.4, 0.6, 1.0))
    stream = DracoPy.encode(box.vertices.astype(np.float32), box.faces.astype(np.uint32), quantization_bits=16)
    pad = lambda b, fill: b + fill * (-len(b) % 4)  # noqa: E731
    binary = pad(stream, b"\0")
    doc = {
        "asset": {"version": "2.0"},
        "extensionsUsed": ["KHR_draco_mesh_compression"],
        "extensionsRequired": ["KHR_draco_mesh_compression"],
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "translation": [5.0, 0.0, 0.0]}],
        "meshes": [{"primitives": [{
            "attributes": {"POSITION": 0}, "indices": 1, "mode": 4,
            "extensions": {"KHR_draco_mesh_compression": {"bufferView": 0, "attributes": {"POSITION": 0}}},
        }]}],
        "accessors": [
            {"componentType": 5126, "count": 8, "type": "VEC3", "min": [-0.2, -0.3, -0.5], "max": [0.2, 0.3, 0.5]},
            {"componentType": 5125, "count": 36, "type": "SCALAR"},
        ],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": len(stream)}],
        "buffers": [{"byteLength": len(binary)}],
    }  # fmt: skip
    text = pad(json.dumps(doc).encode(), b" ")
    body = struct.pack("<II", len(text), 0x4E4F534A) + text + struct.pack("<II", len(binary), 0x004E4942) + binary
    path = tmp_path / "web.glb"
    path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body)
    mesh = load_mesh(path, normalize=False)
    assert mesh.is_watertight and len(mesh.faces) == 12
    np.testing.assert_allclose(mesh.bounds, box.bounds + [5.0, 0.0, 0.0], atol=1e-4)
    truncated = tmp_path / "truncated.glb"
    truncated.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValueError, match="truncated.glb"):
        load_mesh(truncated)


def test_degenerate_and_duplicated_faces_are_repaired(tmp_path):
    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    faces = np.vstack([box.faces, box.faces[:3], [[0, 0, 1], [2, 3, 3]]])
    path = tmp_path / "messy.ply"
    trimesh.Trimesh(box.vertices, faces, process=False).export(path)
    with pytest.warns(MeshWarning, match="dropped 2 degenerate and 3 duplicated of 17 faces"):
        mesh = load_mesh(path)
    assert len(mesh.faces) == 12 and mesh.is_watertight
    assert MeshShape(mesh).sdf(torch.zeros(1, 3)).item() == pytest.approx(-0.8, abs=1e-5)


def test_flipped_far_away_millimetre_mesh_keeps_its_inside():
    ball = trimesh.creation.icosphere(subdivisions=3, radius=40.0)  # millimetres
    ball.apply_translation((1000.0, -2000.0, 500.0))
    ball.invert()  # every face inward
    shape = MeshShape(prepare_mesh(ball))
    d = shape.sdf(torch.tensor([[0.0, 0.0, 0.0], [0.9, 0.0, 0.0]]))
    assert d[0] == pytest.approx(-0.8, abs=0.01) and d[1] == pytest.approx(0.1, abs=0.01)


def test_open_mesh_is_accepted_with_a_warning():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    holed = trimesh.Trimesh(sphere.vertices, sphere.faces[5:], process=False)
    with pytest.warns(MeshWarning, match="not watertight"):
        shape = MeshShape(prepare_mesh(holed, normalize=False))
    d = shape.sdf(torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.8], [0.3, 0.1, 0.0]]))
    assert d[0] == pytest.approx(-0.5, abs=0.01) and d[1] > 0.25 and d[2] < 0


@pytest.mark.parametrize(
    "mesh, reason",
    [
        (trimesh.Trimesh(np.zeros((3, 3)), np.zeros((0, 3), dtype=np.int64)), "no triangle faces"),
        (trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [np.nan, 1, 0]], [[0, 1, 2]], process=False), "NaN or infinite"),
        (trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [2, 0, 0]], [[0, 1, 2]], process=False), "degenerate"),
        (trimesh.creation.box(extents=(1, 1, 0)), "encloses no volume"),
        (trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]]), "encloses no volume"),
    ],
)
def test_meshes_that_cannot_give_an_sdf_are_refused_in_one_line(mesh, reason):
    with pytest.raises(ValueError, match=reason) as err:
        MeshShape(prepare_mesh(mesh))
    assert "\n" not in str(err.value)
