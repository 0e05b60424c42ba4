"""Validation with shapely: each way a shape can be wrong is refused with its reason."""

from __future__ import annotations

from typing import Any

import pytest

from annotations import InvalidAnnotationError
from annotations.geometry import check_geometry

W, H = 2220, 2967


def polygon(*points: tuple[float, float]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[list(p) for p in points]]}


SQUARE = polygon((10, 10), (110, 10), (110, 110), (10, 110), (10, 10))


def test_valid_shapes_pass() -> None:
    assert check_geometry(SQUARE, W, H).area == 10_000
    assert check_geometry({"type": "Point", "coordinates": [5, 5]}, W, H).is_valid
    assert check_geometry({"type": "MultiPoint", "coordinates": [[5, 5], [6, 7]]}, W, H)
    line = check_geometry({"type": "LineString", "coordinates": [[0, 0], [30, 40]]}, W, H)
    assert line.length == 50
    # A shape touching the far edge is still on the slide.
    assert check_geometry(polygon((0, 0), (W, 0), (W, H), (0, 0)), W, H).area > 0


@pytest.mark.parametrize(
    ("geometry", "reason"),
    [
        (polygon((0, 0), (10, 0), (10, 10), (0, 10)), "not closed"),
        (polygon((0, 0), (10, 10), (10, 0), (0, 10), (0, 0)), "Self-intersection"),
        (polygon((0, 0), (10, 0), (0, 0)), "at least 4 positions"),
        (polygon((0, 0), (10, 0), (20, 0), (0, 0)), "invalid geometry"),
        (polygon((-5, 0), (10, 0), (10, 10), (-5, 0)), "outside the slide"),
        (polygon((0, 0), (W + 1, 0), (W + 1, 10), (0, 0)), "outside the slide"),
        ({"type": "Point", "coordinates": [1, float("nan")]}, "finite"),
        ({"type": "Point", "coordinates": [1, "2"]}, "numbers"),
        ({"type": "Point", "coordinates": [1, 2, 3]}, "[x, y]"),
        ({"type": "LineString", "coordinates": [[1, 1], [1, 1]]}, "two distinct"),
        ({"type": "GeometryCollection", "geometries": []}, "not one of"),
        ({"type": "Polygon", "coordinates": []}, "outer ring"),
        ("POLYGON((0 0, 1 0, 1 1, 0 0))", "GeoJSON geometry object"),
    ],
)
def test_invalid_shapes_are_refused_with_reason(geometry: Any, reason: str) -> None:
    with pytest.raises(InvalidAnnotationError, match=reason.replace("[", r"\[")):
        check_geometry(geometry, W, H)
