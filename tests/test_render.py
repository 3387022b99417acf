import math

import numpy as np
import pytest
import torch
from PIL import Image

from dws_edit.data.meshes import mesh_sdf
from dws_edit.data.shapes import Part, Shape, sample_sdf_points, sample_shape
from dws_edit.inr import image_spec
from dws_edit.render import render_images, save_image_grid, shape_to_mesh
from dws_edit.weights import WeightSpace


def known_image_inrs(a=2.0, c=1.0, k=(0.4, 0.4, 3.0)):
    """Three image SIRENs with closed forms: 0.5 + k sin(c sin(a x)), the same in y, and a clipped one in x.

    Only one neuron per layer is used: sin(w0 * (a / w0) x) = sin(a x), then sin(w0 * (c / w0) h) = sin(c h), then
    the linear output k h + 0.5 (the spec's output offset)."""
    spec = image_spec()
    ws = WeightSpace.zeros(spec, batch=3)
    for b, axis in enumerate((0, 1, 0)):
        ws.weights[0][b, 0, 0, axis] = a / spec.w0
        ws.weights[1][b, 0, 0, 0] = c / spec.w0
        ws.weights[2][b, 0, 0, 0] = k[b]
    return ws


def test_render_images_of_known_inrs():
    h, w = 5, 7  # not square: a transposed grid would not match
    images = render_images(known_image_inrs(), height=h, width=w)
    assert images.shape == (3, 1, h, w) and images.dtype == torch.float32
    x = torch.linspace(-1, 1, w).expand(h, w)  # x across the columns
    y = torch.linspace(-1, 1, h)[:, None].expand(h, w)  # y down the rows
    torch.testing.assert_close(images[0, 0], 0.5 + 0.4 * torch.sin(torch.sin(2 * x)), atol=1e-5, rtol=0)
    torch.testing.assert_close(images[1, 0], 0.5 + 0.4 * torch.sin(torch.sin(2 * y)), atol=1e-5, rtol=0)
    clipped = (0.5 + 3.0 * torch.sin(torch.sin(2 * x))).clamp(0, 1)
    torch.testing.assert_close(images[2, 0], clipped, atol=1e-5, rtol=0)
    assert images[2].min() == 0 and images[2].max() == 1
    torch.testing.assert_close(render_images(known_image_inrs(), h, w, chunk=2), images)


def test_save_image_grid_writes_a_png_of_the_right_size(tmp_path):
    n, h, w, columns, scale = 10, 8, 6, 4, 3
    images = torch.rand(n, 1, h, w, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "grid.png"
    save_image_grid(images, path, columns=columns, scale=scale)
    with Image.open(path) as img:
        assert img.format == "PNG" and img.mode == "L"
        assert img.size == (scale * (columns * (w + 1) - 1), scale * (3 * (h + 1) - 1))  # 10 images: 3 rows of 4
        pixels = np.asarray(img)
    r, q = divmod(5, columns)  # image 5: row 1, column 1
    top, left = scale * r * (h + 1), scale * q * (w + 1)
    expected = (images[5, 0].numpy() * 255).round().astype(np.uint8).repeat(scale, 0).repeat(scale, 1)
    np.testing.assert_array_equal(pixels[top : top + scale * h, left : left + scale * w], expected)
    assert (pixels[top + scale * h : top + scale * (h + 1)] == 0).all()  # the gap below it
    save_image_grid(torch.rand(2, 3, 4, 4), tmp_path / "rgb.png", columns=8, scale=1)
    with Image.open(tmp_path / "rgb.png") as img:
        assert img.mode == "RGB" and img.size == (8 * 5 - 1, 4)
    with pytest.raises(ValueError, match="expected"):
        save_image_grid(torch.rand(2, 2, 4, 4), tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_shape_to_mesh_of_a_sphere_lies_on_the_sphere():
    center, r = torch.tensor([0.1, -0.2, 0.0]), 0.5
    ball = Shape("custom", {}, (Part("ball", "sphere", {"center": tuple(center.tolist()), "radius": r}),))
    mesh = shape_to_mesh(ball, resolution=48)
    assert mesh.is_watertight and mesh.volume > 0  # closed, faces outward
    radii = np.linalg.norm(mesh.vertices - center.numpy(), axis=1)
    assert np.abs(radii - r).max() < 2e-3  # the cell is 2 / 47 = 0.043: interpolation error only
    assert mesh.volume == pytest.approx(4 / 3 * math.pi * r**3, rel=0.01)
    np.testing.assert_allclose(mesh.centroid, center.numpy(), atol=1e-3)


@pytest.mark.parametrize("family", ["mug", "table", "car"])
def test_shape_to_mesh_agrees_with_the_shape(family):
    shape = sample_shape(family, torch.Generator().manual_seed(2))
    resolution = 64
    cell = 2 / (resolution - 1)
    mesh = shape_to_mesh(shape, resolution)
    assert mesh.is_watertight and mesh.volume > 0
    p, _ = sample_sdf_points(shape, 3000, torch.Generator().manual_seed(0))
    exact, meshed = shape.sdf(p), mesh_sdf(mesh, p)
    outside = exact > 0
    assert (meshed[outside] - exact[outside]).abs().max() < cell  # exact outside
    # inside, the shape's SDF is a bound (the min over overlapping parts): never deeper than the true distance
    assert (meshed[~outside] <= exact[~outside] + cell).all()
    far = exact.abs() > cell
    assert torch.equal(meshed[far] > 0, exact[far] > 0)


def test_shape_to_mesh_needs_a_surface():
    from dws_edit.data.shapes import Part, Shape

    tiny = Shape("custom", {}, (Part("dot", "sphere", {"center": (0.0, 0.0, 0.0), "radius": 0.001}),))
    with pytest.raises(ValueError, match="zero crossing"):
        shape_to_mesh(tiny, 8)


def half_space_inr(field: bool = False, offset: float = 0.0):
    """A 3-D SIREN with a closed form: s(x) = 0.4 sin(sin(2 x)), negative exactly for x < 0 on [-1, 1].

    SDF: f = s + offset. Field: density 0.5 - s (above 1/2 for x < 0) and the constant color red."""
    from dws_edit.inr import field_spec, sdf_spec

    spec = field_spec() if field else sdf_spec()
    ws = WeightSpace.zeros(spec, batch=1)
    ws.weights[0][0, 0, 0, 0] = 2.0 / spec.w0
    ws.weights[1][0, 0, 0, 0] = 1.0 / spec.w0
    ws.weights[2][0, 0, 0, 0] = -0.4 if field else 0.4
    ws.biases[2][0, 0, 0] = 0.5 if field else offset
    if field:
        ws.biases[2][0, 0, 1] = 1.0  # r = 1, g = b = 0
    return ws


def test_inr_to_mesh_of_a_known_sdf_inr_and_its_files(tmp_path):
    import trimesh

    from dws_edit.render import MESH_FORMATS, inr_to_mesh, save_mesh

    mesh = inr_to_mesh(half_space_inr(), resolution=32)
    assert mesh.is_watertight
    np.testing.assert_allclose(mesh.bounds, [[-1, -1, -1], [0, 1, 1]], atol=0.07)  # the half cube x < 0
    assert mesh.volume == pytest.approx(4.0, rel=0.1)
    for ext in MESH_FORMATS:
        back = trimesh.load(save_mesh(mesh, tmp_path / f"half{ext}"), force="mesh")
        np.testing.assert_allclose(back.bounds, mesh.bounds, atol=1e-5)
        assert len(back.faces) == len(mesh.faces)
    with pytest.raises(ValueError, match="accepted .glb, .obj, .ply, .stl, .off"):
        save_mesh(mesh, tmp_path / "half.fbx")
    assert not (tmp_path / "half.fbx").exists()
    with pytest.raises(ValueError, match="the sdf INR's level has no zero crossing on the 17\\^3 grid"):
        inr_to_mesh(half_space_inr(offset=5.0), resolution=17)
    with pytest.raises(ValueError, match="ONE sdf or field INR"):
        inr_to_mesh(WeightSpace.cat([half_space_inr(), half_space_inr()]))


def test_field_inr_mesh_and_volume_rendering_show_its_color():
    from dws_edit.inr import evaluate
    from dws_edit.render import inr_to_mesh, render_field_views

    ws = half_space_inr(field=True)
    mesh = inr_to_mesh(ws, resolution=17)
    assert (mesh.visual.vertex_colors[:, :3] == [255, 0, 0]).all()
    views = render_field_views(lambda p: evaluate(ws, p), views=2, size=16, samples=64)
    assert views.shape == (1, 2, 3, 16, 16) and 0 <= views.min() and views.max() <= 1
    red = (views[0, :, 0] > 0.9) & (views[0, :, 1] < 0.1)
    white = (views[0] > 0.99).all(dim=1)
    assert red[:, 8, 8].all() and white.any() and not (red & white).any()


def test_render_mesh_views_sees_the_mesh_in_the_middle():
    import trimesh

    from dws_edit.render import render_mesh_views

    views = render_mesh_views(trimesh.creation.box(extents=(0.8, 0.8, 0.8)), views=3, size=32)
    assert views.shape == (3, 3, 32, 32)
    assert (views[:, :, 16, 16] < 0.95).all() and (views[:, :, 0, 0] == 1).all()


def test_mesh_views_frame_a_shape_that_fills_the_cube():
    """A cube filling [-1, 1]^3 (the INRs' domain; fitted meshes fill [-0.8, 0.8]^3) stays inside the PNG views: no
    pixel of the image's border is the shape's. The benchmarks' volume-rendered views keep their closer camera."""
    import trimesh

    from dws_edit.render import FRAMED_DISTANCE, orbit_eyes, render_mesh_views

    cube = trimesh.creation.box(extents=(2.0, 2.0, 2.0))

    def border(views):
        return torch.cat([views[..., 0, :], views[..., -1, :], views[..., :, 0], views[..., :, -1]], dim=-1)

    for views in (render_mesh_views(cube, views=3, size=48), render_mesh_views(cube, views=4, size=31)):
        assert (border(views) == 1).all()  # the white background all round
        assert (views[..., views.shape[-1] // 2, views.shape[-1] // 2] < 0.95).all()  # the cube in the middle
    assert (border(render_mesh_views(cube, views=3, size=48, distance=3.5)) < 1).any()  # the old camera cut it off
    assert 5 < FRAMED_DISTANCE < 6
    torch.testing.assert_close(orbit_eyes(3).norm(dim=-1), torch.full((3,), 3.5))  # render_field_views' camera
