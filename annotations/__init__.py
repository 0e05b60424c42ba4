"""Annotations on a slide: QuPath-style GeoJSON features, validated and measured.

Pure domain code (no database, no web): `geojson` reads and writes features the
way QuPath does, `geometry` checks them with shapely, `measure` turns level-0
pixels into micrometres, `history` decides what a change keeps.
"""

from annotations.errors import InvalidAnnotationError
from annotations.geojson import Feature, feature_collection, parse_collection, parse_feature
from annotations.measure import Measurement, measure

__all__ = [
    "Feature",
    "InvalidAnnotationError",
    "Measurement",
    "feature_collection",
    "measure",
    "parse_collection",
    "parse_feature",
]
