"""Images into INRs: the input boundary of fit_images, the image-file loader, and fit_image."""

import numpy as np
import pytest
import torch
from PIL import Image

from dws_edit.api import fit_image
from dws_edit.data.images import image_to_tensor, load_image_file
from dws_edit.inr import evaluate, grid_coords, image_spec, psnr_from_mse
from dws_edit.inr.fitting import fit_images

# ---------------------------------------------------------------------------------------------------- fit_images


def test_channels_last_images_are_refused_unless_declared():
    x = torch.rand(2, 10, 12, 3, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="channels_last=True") as info:
        fit_images(x, max_steps=1)  # used to be fitted silently as 10-channel images
    assert "\n" not in str(info.value) and "C = 1 or 3" in str(info.value)
    ws, psnr = fit_images(x, max_steps=3, channels_last=True)
    assert ws.spec == image_spec(channels=3) and psnr.shape == (2,)
    same, _ = fit_images(x.permute(0, 3, 1, 2), max_steps=3)
    assert torch.equal(ws.flatten(), same.flatten())  # the permuted layout, not a reshape
    with pytest.raises(ValueError, match=r"expected \[N, H, W, C\]"):
        fit_images(torch.rand(10, 12, 3), channels_last=True)
    with pytest.raises(ValueError, match="channels"):
        fit_images(torch.rand(2, 2, 8, 8))  # gray + alpha has no INR spec: C must be 1 or 3


def test_an_empty_batch_gives_empty_results():
    ws, psnr = fit_images(torch.zeros(0, 16, 16))
    assert ws.batch_size == 0 and ws.spec == image_spec() and psnr.shape == (0,)
    ws3, _ = fit_images(torch.zeros(0, 3, 8, 8))
    assert ws3.batch_size == 0 and ws3.spec == image_spec(channels=3)
    assert evaluate(ws, grid_coords(4, 4)).shape == (0, 16, 1)


def test_numpy_and_uint8_inputs():
    g = torch.Generator().manual_seed(1)
    u8 = torch.randint(0, 256, (2, 8, 8), generator=g, dtype=torch.uint8)
    ref, ref_psnr = fit_images(u8.float() / 255, max_steps=5)
    for images in (u8, u8.numpy(), (u8.float() / 255).numpy()):
        ws, psnr = fit_images(images, max_steps=5)
        torch.testing.assert_close(ws.flatten(), ref.flatten(), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="uint8") as info:
        fit_images(u8.float(), max_steps=1)  # 0..255 as float: out of [0, 1]
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="dtype torch.int32"):
        fit_images(u8.int(), max_steps=1)
    with pytest.raises(ValueError, match="finite"):
        fit_images(torch.full((1, 4, 4), float("nan")), max_steps=1)
    with pytest.raises(ValueError, match="numpy"):
        fit_images([[0.0, 1.0]], max_steps=1)


# ---------------------------------------------------------------------------------------------------- image files


def save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


@pytest.mark.parametrize(
    ("mode", "fill", "expected"),
    [
        ("L", 128, 128 / 255),
        ("1", 1, 1.0),
        ("I;16", 32768, 32768 / 65535),
        ("RGB", (255, 0, 0), 0.299),
        ("RGBA", (0, 255, 0, 51), 0.587 * 0.2),  # alpha 0.2 composited onto black
        ("LA", (200, 0), 0.0),  # fully transparent: black
    ],
)
def test_modes_are_converted_to_luminance_in_unit_range(tmp_path, mode, fill, expected):
    path = save(Image.new(mode, (24, 24), fill), tmp_path / "img.png")  # square: no padding (tests/data/test_images)
    x = load_image_file(path, size=8, channels=1)
    assert x.shape == (1, 8, 8) and x.dtype == torch.float32
    torch.testing.assert_close(x, torch.full_like(x, expected), atol=2e-6, rtol=0)


def test_palette_transparency_and_rgb_channels(tmp_path):
    img = Image.new("P", (16, 16), 0)
    img.putpalette([255, 255, 255, 0, 0, 255] + [0] * 762)
    img.paste(1, (0, 0, 16, 8))  # top half: palette entry 1 (blue), bottom half: entry 0 (white, transparent)
    path = save(img, tmp_path / "p.png", transparency=0)
    rgb = load_image_file(path, size=16, channels=3)
    assert rgb.shape == (3, 16, 16)
    torch.testing.assert_close(rgb[:, :8], torch.tensor([0.0, 0.0, 1.0])[:, None, None].expand(3, 8, 16))
    assert rgb[:, 8:].abs().max() == 0  # transparent white composited onto black
    gray = load_image_file(path, size=16, channels=1)
    torch.testing.assert_close(gray[0, :8], torch.full((8, 16), 0.114))
    # a gray image asked for as RGB is repeated into three channels
    g3 = load_image_file(save(Image.new("L", (5, 5), 51), tmp_path / "g.png"), size=5, channels=3)
    torch.testing.assert_close(g3, torch.full((3, 5, 5), 0.2))


def test_shrinking_averages_and_enlarging_stays_in_range(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    x = load_image_file(save(Image.fromarray(a), tmp_path / "big.png"), size=16, channels=1)
    box = a.astype(np.float32).reshape(16, 4, 16, 4).mean(axis=(1, 3)) / 255  # the box filter: block means
    torch.testing.assert_close(x[0], torch.from_numpy(box), atol=1e-5, rtol=0)
    checker = (np.indices((4, 4)).sum(0) % 2 * 255).astype(np.uint8)  # sharp edges make LANCZOS ring
    up = load_image_file(save(Image.fromarray(checker), tmp_path / "small.png"), size=28, channels=1)
    assert up.shape == (1, 28, 28) and up.min() >= 0 and up.max() <= 1


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((40, 40), dtype=np.uint8)
    a[:, :20] = 255  # stored: left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: the left half becomes the top half
    path = save(Image.fromarray(a), tmp_path / "photo.jpg", exif=exif, quality=95)
    x = load_image_file(path, size=8, channels=1)[0]
    assert x[:3].min() > 0.9 and x[5:].max() < 0.1


def test_arrays_and_tensors_convert_like_the_pil_image():
    rgb = np.random.default_rng(1).integers(0, 256, (12, 18, 3), dtype=np.uint8)
    from_pil = image_to_tensor(Image.fromarray(rgb), size=6, channels=3)
    torch.testing.assert_close(image_to_tensor(rgb, size=6, channels=3), from_pil, atol=1e-6, rtol=0)
    chw = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255  # torchvision layout
    torch.testing.assert_close(image_to_tensor(chw, size=6, channels=3), from_pil, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        image_to_tensor(rgb.astype(np.float32))
    with pytest.raises(ValueError, match="expected"):
        image_to_tensor(np.zeros((4, 4, 5)))
    with pytest.raises(ValueError, match="channels=2"):
        image_to_tensor(rgb, channels=2)


def test_unreadable_files_are_refused_in_one_line(tmp_path):
    (tmp_path / "notes.png").write_bytes(b"this is not an image")
    png = save(Image.new("RGB", (64, 64), (10, 200, 30)), tmp_path / "ok.png")
    (tmp_path / "cut.png").write_bytes(png.read_bytes()[:60])
    for path in (tmp_path / "notes.png", tmp_path / "cut.png", tmp_path / "missing.png", tmp_path):
        with pytest.raises(ValueError) as info:
            load_image_file(path, 8, 1)
        msg = str(info.value)
        assert "\n" not in msg and str(path) in msg, msg
    with pytest.raises(ValueError, match="PNG, JPEG"):
        load_image_file(tmp_path / "notes.png", 8, 1)


# ---------------------------------------------------------------------------------------------------- fit_image


def test_fit_image_from_a_file_fits_the_converted_image(tmp_path):
    yy, xx = np.mgrid[0:40, 0:60]
    rgba = np.stack([xx * 4, yy * 6, np.full_like(xx, 90), np.full_like(xx, 255)], -1).astype(np.uint8)
    path = save(Image.fromarray(rgba, "RGBA"), tmp_path / "gradient.png")
    ws = fit_image(path, size=16, channels=1, target_psnr=30.0, max_steps=300)
    assert ws.batch_size == 1 and ws.spec == image_spec(channels=1)
    target = load_image_file(path, 16, 1)
    pred = evaluate(ws, grid_coords(16, 16)).reshape(1, 16, 16)
    assert psnr_from_mse((pred - target).square().mean()) >= 30.0
    rgb = fit_image(Image.fromarray(rgba), size=8, channels=3, max_steps=2)
    assert rgb.spec == image_spec(channels=3) and rgb.batch_size == 1
