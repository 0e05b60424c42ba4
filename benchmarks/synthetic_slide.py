"""Build realistic synthetic whole-slide images that OpenSlide opens.

No small public slide exists for large sizes, odd dimensions or missing
resolution, so tests and benchmarks make their own: tissue-like texture from the
immunohistochemistry sample that scikit-image ships (nothing is downloaded),
blobs of tissue on roughly 60% white glass, stored as a JPEG-tiled Aperio-style
TIFF pyramid (the `Aperio` ImageDescription makes OpenSlide pick its Aperio
reader, exactly as for a scanner's file).
"""

from __future__ import annotations

import argparse
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import pyvips

_TEXTURE_SIZE = 512


@dataclass(frozen=True)
class SyntheticSlideSpec:
    """What to build; the defaults are the benchmark's 40000x30000 slide."""

    width: int = 40000
    height: int = 30000
    tile_size: int = 240
    quality: int = 80
    #: Share of the area left as white glass.
    glass_fraction: float = 0.6
    #: `None` leaves the resolution out (a slide with unknown mpp).
    mpp: float | None = 0.499
    objective_power: int | None = 20
    #: "jpeg" as scanners write; "deflate" gives a slide only OpenSlide decodes.
    compression: str = "jpeg"
    seed: int = 7
    #: Downsamples of the levels kept, e.g. (1, 4, 16) as Aperio scanners write; None
    #: keeps every halving down to one tile, (1,) makes a single-level slide.
    levels: tuple[int, ...] | None = None
    bigtiff: bool = True
    #: The scikit-image sample the tissue is tiled from: the histology sample, or another
    #: shipped image ("coffee", "astronaut", ...) for a slide of other texture.
    texture: str = "immunohistochemistry"


def _texture(name: str) -> pyvips.Image:
    from skimage import data  # a test/benchmark dependency only

    # Default: the 512x512 RGB histology sample; every sample named is in the wheel.
    sample = getattr(data, name)()
    tile = pyvips.Image.new_from_array(sample, interpretation="srgb")
    # Mirror the sample into a 2x2 block so that the repeat has no visible seams.
    top = tile.join(tile.fliphor(), "horizontal")
    return top.join(top.flipver(), "vertical")


def _tissue_mask(spec: SyntheticSlideSpec) -> pyvips.Image:
    """A one-band 0/255 mask with smooth blob outlines covering the tissue share."""
    cell = 512
    small_w = max(2, -(-spec.width // cell))
    small_h = max(2, -(-spec.height // cell))
    noise = pyvips.Image.gaussnoise(small_w, small_h, sigma=40.0, mean=128.0, seed=spec.seed)
    # percent() reads an 8-bit histogram, so blur and threshold in uchar.
    smooth = noise.gaussblur(1.5).cast("uchar")
    threshold = smooth.percent(100 * spec.glass_fraction)
    upscaled = smooth.resize(cell, kernel="linear")
    return (upscaled > threshold).crop(0, 0, spec.width, spec.height)


def _description(spec: SyntheticSlideSpec, width: int, height: int) -> str:
    fields = [
        f"Aperio Image Library v12.0.15 \r\n{width}x{height} [0,0 {width}x{height}] "
        f"({spec.tile_size}x{spec.tile_size}) JPEG/RGB Q={spec.quality}"
    ]
    if spec.objective_power is not None:
        fields.append(f"AppMag = {spec.objective_power}")
    if spec.mpp is not None:
        fields.append(f"MPP = {spec.mpp:.4f}")
    return "|".join(fields)


def build_slide(path: Path, spec: SyntheticSlideSpec = SyntheticSlideSpec()) -> Path:
    """Write the slide to `path` (aside first, so a crash leaves nothing half-made)."""
    texture = _texture(spec.texture)
    across = -(-spec.width // texture.width)
    down = -(-spec.height // texture.height)
    tissue = texture.replicate(across, down).crop(0, 0, spec.width, spec.height)
    glass = tissue.new_from_image([255, 255, 255])
    image = _tissue_mask(spec).ifthenelse(tissue, glass)

    image = image.copy()
    image.set_type(
        pyvips.GValue.gstr_type,
        "image-description",
        _description(spec, spec.width, spec.height),
    )
    partial = path.with_name(path.name + ".partial")
    # Halving levels down to one tile, as many scanners (and libvips) write them.
    image.tiffsave(
        str(partial),
        tile=True,
        tile_width=spec.tile_size,
        tile_height=spec.tile_size,
        compression=spec.compression,
        Q=spec.quality,
        pyramid=spec.levels != (1,),
        bigtiff=spec.bigtiff,
    )
    if spec.levels is not None and spec.levels != (1,):
        _keep_levels(partial, spec.levels)
    os.replace(partial, path)
    return path


def _keep_levels(path: Path, downsamples: tuple[int, ...]) -> None:
    """Unlink the halvings not in `downsamples` from the file's chain of directories.

    libvips halves each level (sizes rounded down, as scanners do); relinking each
    kept directory's next-IFD pointer to the next kept one leaves a 1x/4x/16x pyramid
    like an Aperio scanner's. The skipped directories stay in the file, unreferenced."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        big = tif.is_bigtiff
        order = tif.byteorder
        kept = [page.offset for index, page in enumerate(tif.pages) if 1 << index in downsamples]
    count_format, entry_size, pointer_format = ("Q", 20, "Q") if big else ("H", 12, "I")
    with path.open("r+b") as handle:
        for index, offset in enumerate(kept):
            handle.seek(offset)
            count_size = struct.calcsize(count_format)
            (entries,) = struct.unpack(order + count_format, handle.read(count_size))
            handle.seek(offset + count_size + entries * entry_size)
            following = kept[index + 1] if index + 1 < len(kept) else 0
            handle.write(struct.pack(order + pointer_format, following))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--width", type=int, default=SyntheticSlideSpec.width)
    parser.add_argument("--height", type=int, default=SyntheticSlideSpec.height)
    args = parser.parse_args()
    build_slide(args.path, SyntheticSlideSpec(width=args.width, height=args.height))


if __name__ == "__main__":
    main()
