"""The small slide interface every reader implements, and the metadata it reports.

Coordinate planes are named by prefix, as in openslide-python: `l0_` level-0
pixels, `l_` a slide level, `z_` a Deep Zoom level, `t_` a tile column/row.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from tiler import hardening as _hardening  # noqa: F401 - untrusted-input settings first


@dataclass(frozen=True)
class Level:
    width: int
    height: int
    downsample: float


@dataclass(frozen=True)
class SlideInfo:
    """What `slidebridge info --json` prints and the service stores."""

    vendor: str
    width: int
    height: int
    levels: list[Level]
    mpp_x: float | None
    mpp_y: float | None
    objective_power: float | None
    associated: list[str]
    properties: Mapping[str, str] = field(default_factory=dict)

    def to_json(self, *, with_properties: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not with_properties:
            data.pop("properties")
        else:
            data["properties"] = dict(self.properties)
        return data


class Slide(ABC):
    """An open whole-slide image. Not thread-safe unless a reader says so."""

    @property
    @abstractmethod
    def info(self) -> SlideInfo: ...

    @property
    def background_rgb(self) -> tuple[int, int, int]:
        """Colour shown where the slide has no pixels (transparent areas)."""
        return (255, 255, 255)

    @abstractmethod
    def read_region(
        self, l0_location: tuple[int, int], level: int, size: tuple[int, int]
    ) -> Image.Image:
        """RGBA pixels of `size` at `level`, whose top-left is given in level-0 pixels."""

    def read_rgb(
        self, l0_location: tuple[int, int], level: int, size: tuple[int, int]
    ) -> np.ndarray:
        """Opaque RGB pixels (transparent areas composited on the background), HxWx3 uint8."""
        rgba = np.asarray(self.read_region(l0_location, level, size))
        return composite_on(rgba, self.background_rgb)

    @abstractmethod
    def associated_image(self, name: str) -> Image.Image:
        """An associated image (label, macro, thumbnail) as RGB; NotFoundError if absent."""

    def best_level_for_downsample(self, downsample: float) -> int:
        """The coarsest level not coarser than `downsample`. Scanners round level sizes
        (a 32x level is often 32.0085x): a level up to 1% coarser still counts, or the
        read would fall back to a level with 4x the pixels for an invisible difference."""
        best = 0
        for index, level in enumerate(self.info.levels):
            if level.downsample <= downsample * 1.01:
                best = index
        return best

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the reader's resources."""

    def __enter__(self) -> Slide:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def background_of(properties: Mapping[str, str]) -> tuple[int, int, int]:
    """The colour OpenSlide reports as the slide's background (`openslide.background-color`,
    RRGGBB), white where it reports none."""
    color = properties.get("openslide.background-color", "FFFFFF")
    try:
        return (int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16))
    except ValueError:
        return (255, 255, 255)


def composite_on(rgba: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """RGB from straight-alpha RGBA, blended on `background` (as DeepZoomGenerator does)."""
    alpha = rgba[..., 3]
    if alpha.min() == 255:
        # One channel at a time: three times faster than copying the HxWx3 view,
        # whose innermost run of three bytes numpy copies element by element.
        height, width = alpha.shape
        rgb = np.empty((height, width, 3), dtype=np.uint8)
        flat = rgb.reshape(height, width * 3)
        for channel in range(3):
            flat[:, channel::3] = rgba[..., channel]
        return rgb
    weight = alpha[..., None].astype(np.uint16)
    back = np.asarray(background, dtype=np.uint16)
    blended = (rgba[..., :3] * weight + back * (255 - weight) + 127) // 255
    return blended.astype(np.uint8)
