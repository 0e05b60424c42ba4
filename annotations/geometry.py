"""Geometry checks with shapely: the shapes QuPath writes, closed, simple, inside the slide.

GeoJSON positions are checked by hand before shapely sees them, because shapely
quietly closes open rings and accepts NaN, both of which would store a shape
that is not the one the pathologist drew.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from shapely.geometry import LineString, MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from annotations.errors import InvalidAnnotationError
from tiler.reasons import N_

#: GeoJSON types QuPath writes for annotations: points (Point/MultiPoint), lines, areas.
SUPPORTED_TYPES = frozenset({"Point", "MultiPoint", "LineString", "Polygon", "MultiPolygon"})
#: A freehand outline of a whole slide at full resolution stays far below this.
MAX_VERTICES = 200_000


def _position(value: Any) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise InvalidAnnotationError(N_("a position is [x, y] in level-0 pixels"))
    x, y = value
    for number in (x, y):
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise InvalidAnnotationError(N_("coordinates must be numbers"))
        if not math.isfinite(number):
            raise InvalidAnnotationError(N_("coordinates must be finite"))
    return float(x), float(y)


def _positions(value: Any, what: str) -> list[tuple[float, float]]:
    if not isinstance(value, list) or not value:
        raise InvalidAnnotationError(N_("{what} needs a non-empty list of positions", what=what))
    return [_position(item) for item in value]


def _ring(value: Any) -> list[tuple[float, float]]:
    ring = _positions(value, "a polygon ring")
    if len(ring) < 4:
        raise InvalidAnnotationError(N_("a polygon ring needs at least 4 positions (3 corners)"))
    if ring[0] != ring[-1]:
        raise InvalidAnnotationError(
            N_("polygon ring is not closed: last position must equal first")
        )
    return ring


def _polygon(value: Any) -> int:
    if not isinstance(value, list) or not value:
        raise InvalidAnnotationError(N_("a polygon needs at least its outer ring"))
    return sum(len(_ring(ring)) for ring in value)


def _count_vertices(kind: str, coordinates: Any) -> int:
    """Structural check of `coordinates` for `kind`; answers the number of positions."""
    if kind == "Point":
        _position(coordinates)
        return 1
    if kind == "MultiPoint":
        return len(_positions(coordinates, "a MultiPoint"))
    if kind == "LineString":
        line = _positions(coordinates, "a LineString")
        if len(set(line)) < 2:
            raise InvalidAnnotationError(N_("a line needs two distinct positions"))
        return len(line)
    if kind == "Polygon":
        return _polygon(coordinates)
    if not isinstance(coordinates, list) or not coordinates:
        raise InvalidAnnotationError(N_("a MultiPolygon needs at least one polygon"))
    return sum(_polygon(polygon) for polygon in coordinates)


def _points(positions: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.asarray(positions, dtype=np.float64)


def _shape(kind: str, coordinates: Any) -> BaseGeometry:
    """The shapely geometry of checked coordinates. Lines and areas go to shapely as
    arrays: `shape()` walks a 50,000-point outline in Python, three times slower."""
    if kind == "Polygon":
        return Polygon(_points(coordinates[0]), [_points(ring) for ring in coordinates[1:]])
    if kind == "MultiPolygon":
        return MultiPolygon([_shape("Polygon", polygon) for polygon in coordinates])
    if kind == "LineString":
        return LineString(_points(coordinates))
    return shape({"type": kind, "coordinates": coordinates})


def check_geometry(value: Any, width: int, height: int) -> BaseGeometry:
    """The shapely geometry of a GeoJSON geometry object, if it is a valid annotation
    shape on a `width` x `height` slide; InvalidAnnotationError with the reason otherwise."""
    if not isinstance(value, dict):
        raise InvalidAnnotationError(N_("geometry must be a GeoJSON geometry object"))
    kind = value.get("type")
    if kind not in SUPPORTED_TYPES:
        raise InvalidAnnotationError(
            N_(
                "geometry type {kind} is not one of {choices}",
                kind=repr(str(kind)[:40]),
                choices=", ".join(sorted(SUPPORTED_TYPES)),
            )
        )
    if _count_vertices(kind, value.get("coordinates")) > MAX_VERTICES:
        raise InvalidAnnotationError(N_("more than {count} vertices", count=MAX_VERTICES))
    geometry = _shape(kind, value["coordinates"])
    if not geometry.is_valid:
        # e.g. "Self-intersection[120 80]": shapely names the place, which the viewer shows.
        raise InvalidAnnotationError(N_("invalid geometry: {why}", why=explain_validity(geometry)))
    if geometry.area == 0 and kind in {"Polygon", "MultiPolygon"}:
        raise InvalidAnnotationError(N_("polygon has no area"))
    min_x, min_y, max_x, max_y = geometry.bounds
    if min_x < 0 or min_y < 0 or max_x > width or max_y > height:
        raise InvalidAnnotationError(
            N_(
                "geometry ({min_x}, {min_y})-({max_x}, {max_y}) "
                "is outside the slide (0, 0)-({width}, {height})",
                min_x=f"{min_x:g}",
                min_y=f"{min_y:g}",
                max_x=f"{max_x:g}",
                max_y=f"{max_y:g}",
                width=width,
                height=height,
            )
        )
    return geometry
