"""The pixel primitives: the JPEG encode is Pillow's, byte for byte, from RGB or RGBX views;
RGBX decodes to RGB's pixels; the blank-tile test and Pillow images for every layout."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tiler.deepzoom import TileOptions
from tiler.imaging import decode_jpeg, encode_tile, pillow_image, uniform_colour
from tiler.jpeg_tiles import assemble
from tiler.level_pixels import SharedTileColours


def _texture(height: int, width: int) -> np.ndarray:
    """Smooth colour with fine noise: what a tissue tile gives an encoder."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([128 + 100 * np.sin(x / 9), 128 + 90 * np.cos(y / 7), (x + y) % 256], -1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def _rgbx(rgb: np.ndarray) -> np.ndarray:
    return np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2)


def _pillow_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.mark.parametrize("quality", [10, 75, 90, 100])
@pytest.mark.parametrize("size", [(1, 1), (2, 1), (17, 3), (256, 254), (255, 256)])
def test_jpeg_tiles_are_pillows_bytes_from_rgb_and_rgbx_views(
    quality: int, size: tuple[int, int]
) -> None:
    height, width = size
    whole = _texture(300, 300)
    whole_x = _rgbx(whole)
    options = TileOptions(quality=quality)
    expected = _pillow_jpeg(whole[5 : 5 + height, 7 : 7 + width], quality)
    assert encode_tile(whole[5 : 5 + height, 7 : 7 + width], options) == expected
    assert encode_tile(whole_x[5 : 5 + height, 7 : 7 + width], options) == expected


def test_flat_tiles_are_pillows_bytes() -> None:
    for value in (0, 128, 243, 255):
        flat = np.full((256, 254, 3), value, np.uint8)
        assert encode_tile(flat, TileOptions()) == _pillow_jpeg(flat, 75)
        assert encode_tile(_rgbx(flat), TileOptions()) == _pillow_jpeg(flat, 75)


def test_webp_tiles_from_rgbx_are_those_from_rgb() -> None:
    rgb = _texture(200, 180)
    options = TileOptions(format="webp")
    assert encode_tile(_rgbx(rgb)[3:150, 4:170], options) == encode_tile(rgb[3:150, 4:170], options)


def test_rgbx_decodes_to_the_rgb_pixels() -> None:
    data = _pillow_jpeg(_texture(240, 240), 80)
    rgb, rgbx = decode_jpeg(data), decode_jpeg(data, 4)
    assert rgb.shape == (240, 240, 3) and rgbx.shape == (240, 240, 4)
    assert np.array_equal(rgbx[..., :3], rgb)
    assert (rgbx[..., 3] == 255).all()


@pytest.mark.parametrize("channels", [3, 4])
def test_pillow_images_of_views(channels: int) -> None:
    pixels = _texture(50, 60) if channels == 3 else _rgbx(_texture(50, 60))
    views = [pixels, pixels[3:40, 5:50], pixels[:, 7:], pixels[49:, 59:], pixels[::2]]
    for view in [*views, pixels[:, ::2]]:
        image = pillow_image(view)
        assert image.mode == ("RGB" if channels == 3 else "RGBX")
        assert image.size == (view.shape[1], view.shape[0])
        assert np.array_equal(np.asarray(image), view)


def test_uniform_colour_of_every_layout() -> None:
    glass = np.full((64, 64, 3), (243, 241, 240), np.uint8)
    assert uniform_colour(glass[5:40, 9:30]) == bytes((243, 241, 240))
    assert uniform_colour(_rgbx(glass)[5:40, 9:30]) == bytes((243, 241, 240))
    # A later stage's anchor: uint16 with fraction bits (a blank region of it once failed).
    stage = np.full((16, 16, 3), 0x1234, np.uint16)
    assert uniform_colour(stage) == np.full(3, 0x1234, np.uint16).tobytes()
    # One pixel off, away from the pixels sampled first.
    for pixels in (glass.copy(), _rgbx(glass), stage.copy()):
        pixels[10, 3, 1] -= 1
        assert uniform_colour(pixels) is None
        assert uniform_colour(pixels[11:, :]) is not None


def test_a_window_on_one_shared_blank_tile_is_not_copied() -> None:
    glass = np.full((240, 240, 4), (243, 241, 240, 255), np.uint8)
    tissue = np.random.default_rng(3).integers(0, 256, (240, 240, 4), np.uint8)
    colours = SharedTileColours()
    # Glass under every corner of the window (repeated bytes decode to one array): one
    # pixel broadcast, which `uniform_colour` settles without scanning.
    window = assemble(lambda c, r: glass, 240, 240, 239, 239, 256, 256, colours)
    assert window.strides[:2] == (0, 0) and not window.flags.writeable
    assert np.array_equal(window, np.full((256, 256, 4), (243, 241, 240, 255), np.uint8))
    assert uniform_colour(window) == bytes((243, 241, 240))
    # One shared tile that is not blank, and glass beside tissue: copied as before.
    for tile in (lambda c, r: tissue, lambda c, r: tissue if c == 1 else glass):
        window = assemble(tile, 240, 240, 239, 239, 256, 256, colours)
        assert window.flags.c_contiguous and window.flags.writeable
        expected = assemble(tile, 240, 240, 239, 239, 256, 256)
        assert np.array_equal(window, expected)
        assert np.array_equal(window[1:241, 1:241], tile(1, 1))
        assert uniform_colour(window) is None
