"""Sizes in micrometres: level-0 pixels scaled by the slide's microns per pixel.

The geometry is scaled before measuring, not the results, so slides whose
pixels are not square (mpp_x != mpp_y) still get true perimeters.
"""

from __future__ import annotations

from dataclasses import dataclass

from shapely import affinity
from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class Measurement:
    """Area and perimeter of an area shape, length of a line, nothing of a point.

    The µm fields are None when the slide has no calibration: never guess units.
    """

    area_px: float
    length_px: float
    area_um2: float | None
    length_um: float | None


def measure(geometry: BaseGeometry, mpp_x: float | None, mpp_y: float | None) -> Measurement:
    """`length` is the perimeter of an area, the length of a line, 0 for points."""
    calibrated = bool(mpp_x and mpp_y and mpp_x > 0 and mpp_y > 0)
    scaled = (
        affinity.scale(geometry, xfact=mpp_x, yfact=mpp_y, origin=(0, 0)) if calibrated else None
    )
    return Measurement(
        area_px=float(geometry.area),
        length_px=float(geometry.length),
        area_um2=float(scaled.area) if scaled is not None else None,
        length_um=float(scaled.length) if scaled is not None else None,
    )
