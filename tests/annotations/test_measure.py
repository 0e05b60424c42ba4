"""Micrometres from level-0 pixels and the slide's mpp; no units without calibration."""

from __future__ import annotations

import math

import pytest
from shapely.geometry import LineString, Point, Polygon

from annotations import measure

MPP = 0.499  # CMU-1-Small-Region.svs


def test_square_area_and_perimeter_in_micrometres() -> None:
    result = measure(Polygon([(0, 0), (1000, 0), (1000, 1000), (0, 1000)]), MPP, MPP)
    assert result.area_px == 1_000_000
    assert result.area_um2 == pytest.approx(1_000_000 * MPP * MPP)
    assert result.length_um == pytest.approx(4000 * MPP)


def test_anisotropic_pixels_scale_each_axis() -> None:
    # A diagonal is not (length in px) * mean mpp when pixels are not square.
    result = measure(LineString([(0, 0), (300, 400)]), 0.5, 0.25)
    assert result.length_um == pytest.approx(math.hypot(150, 100))


def test_no_calibration_means_no_micrometres() -> None:
    result = measure(Polygon([(0, 0), (10, 0), (10, 10)]), None, None)
    assert result.area_px == 50 and result.area_um2 is None and result.length_um is None
    assert measure(Point(3, 3), 0.0, 0.0).area_um2 is None
