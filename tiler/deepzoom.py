"""Deep Zoom tile geometry: levels down to 1x1, tile grid, and each tile's pixel box.

Exactly as Microsoft's Deep Zoom and openslide-python's DeepZoomGenerator define
it: level `z` has dimensions ceil(l0 / 2**(z_max - z)); tile (col, row) covers
[col*size - overlap, (col+1)*size + overlap) clipped to the level, with no
overlap on the outer edges of the first row and column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from tiler.errors import NotFoundError

TILE_FORMATS = ("jpeg", "webp")


@dataclass(frozen=True)
class TileOptions:
    tile_size: int = 254
    overlap: int = 1
    format: str = "jpeg"
    quality: int = 75

    def __post_init__(self) -> None:
        if not 1 <= self.tile_size <= 4096:
            raise ValueError("tile size must be between 1 and 4096")
        if not 0 <= self.overlap <= self.tile_size // 2:
            raise ValueError("overlap must be between 0 and half the tile size")
        if self.format not in TILE_FORMATS:
            raise ValueError(f"format must be one of {', '.join(TILE_FORMATS)}")
        if not 1 <= self.quality <= 100:
            raise ValueError("quality must be between 1 and 100")


DEFAULT_OPTIONS = TileOptions()


@dataclass(frozen=True)
class TileBox:
    """A tile's pixels in its own level: top-left and size (overlap included)."""

    z: int
    col: int
    row: int
    z_x: int
    z_y: int
    width: int
    height: int


@dataclass(frozen=True)
class DeepZoomGrid:
    l0_width: int
    l0_height: int
    tile_size: int = 254
    overlap: int = 1

    @cached_property
    def z_dimensions(self) -> list[tuple[int, int]]:
        """Level sizes, index 0 = 1x1 (or nearly), last = full resolution."""
        dims = [(self.l0_width, self.l0_height)]
        while dims[-1] != (1, 1):
            w, h = dims[-1]
            dims.append((max(1, math.ceil(w / 2)), max(1, math.ceil(h / 2))))
        return list(reversed(dims))

    @property
    def level_count(self) -> int:
        return len(self.z_dimensions)

    @property
    def z_max(self) -> int:
        return self.level_count - 1

    @cached_property
    def z_tile_counts(self) -> list[tuple[int, int]]:
        """Tile columns and rows of each level (a build asks for them once a tile)."""
        size = self.tile_size
        return [(-(-w // size), -(-h // size)) for w, h in self.z_dimensions]

    def tile_counts(self, z: int) -> tuple[int, int]:
        self.level_dimensions(z)  # NotFoundError off the pyramid
        return self.z_tile_counts[z]

    def level_dimensions(self, z: int) -> tuple[int, int]:
        dimensions = self.z_dimensions
        if not 0 <= z < len(dimensions):
            raise NotFoundError(f"no Deep Zoom level {z}")
        return dimensions[z]

    def downsample(self, z: int) -> int:
        return 1 << (self.z_max - z)

    def edge_weights(self, z: int) -> tuple[float, float]:
        """Share of a full level-z pixel that the level's last column and row cover
        (below 1 where the slide's size is not a multiple of the downsample)."""
        scale = self.downsample(z)
        width, height = self.level_dimensions(z)
        return (
            (self.l0_width - (width - 1) * scale) / scale,
            (self.l0_height - (height - 1) * scale) / scale,
        )

    @property
    def tile_total(self) -> int:
        return sum(c * r for c, r in (self.tile_counts(z) for z in range(self.level_count)))

    def tile_box(self, z: int, col: int, row: int) -> TileBox:
        cols, rows = self.tile_counts(z)
        if not (0 <= col < cols and 0 <= row < rows):
            raise NotFoundError(f"no tile {col}_{row} at level {z}")
        w, h = self.level_dimensions(z)
        x0 = max(0, col * self.tile_size - self.overlap)
        y0 = max(0, row * self.tile_size - self.overlap)
        x1 = min(w, (col + 1) * self.tile_size + self.overlap)
        y1 = min(h, (row + 1) * self.tile_size + self.overlap)
        return TileBox(z, col, row, x0, y0, x1 - x0, y1 - y0)

    def dzi_xml(self, options: TileOptions) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" '
            f'Format="{options.format}" Overlap="{self.overlap}" TileSize="{self.tile_size}">'
            f'<Size Height="{self.l0_height}" Width="{self.l0_width}"/></Image>\n'
        )
