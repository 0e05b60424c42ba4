"""QuPath's GeoJSON, read and written as QuPath does.

QuPath ("File > Export objects as GeoJSON", or `exportObjectsToGeoJson`) writes
a FeatureCollection in level-0 pixels, origin top left; each annotation is

    {"type": "Feature", "id": "<uuid>", "geometry": {...},
     "properties": {"objectType": "annotation",
                    "classification": {"name": "Tumor", "color": [200, 0, 0]}, ...}}

Everything a client sends in `properties` is kept exactly (QuPath's `name`,
`isLocked`, `metadata`, measurements...), so a QuPath file round-trips unchanged.
The server's own provenance (author, times, version) lives under one key,
`properties.slidebridge`, which clients cannot set and which the QuPath export drops.
Our own additions ride on QuPath's `metadata` map (string values), which QuPath
keeps: `metadata.comment`, `metadata.shape` (ellipse, rectangle...) and
`metadata.includeInReport` ("true": the region is pictured in the signed report).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shapely.geometry.base import BaseGeometry

from annotations.errors import InvalidAnnotationError
from annotations.geometry import check_geometry
from tiler.reasons import N_

#: The key under which the server writes provenance; stripped from client input.
SERVER_KEY = "slidebridge"
OBJECT_TYPE = "annotation"
MAX_PROPERTIES_BYTES = 16_384
MAX_CLASS_NAME = 100
MAX_COMMENT = 2000
#: `metadata.includeInReport`: "true" pictures the region in the signed report.
IN_REPORT_KEY = "includeInReport"
#: One request may carry a whole QuPath export of a busy slide.
MAX_FEATURES = 50_000


@dataclass(frozen=True)
class Feature:
    """One validated annotation: its id, GeoJSON geometry and client properties."""

    id: uuid.UUID
    geometry: dict[str, Any]
    properties: dict[str, Any]
    shape: BaseGeometry

    @property
    def class_name(self) -> str | None:
        classification = self.properties.get("classification")
        return classification.get("name") if isinstance(classification, dict) else None

    @property
    def in_report(self) -> bool:
        return in_report(self.properties)

    def to_geojson(self, provenance: dict[str, Any] | None = None) -> dict[str, Any]:
        return as_geojson(self.id, self.geometry, self.properties, provenance)


def in_report(properties: dict[str, Any]) -> bool:
    """Whether the pathologist marked the region "include in report"."""
    metadata = properties.get("metadata")
    return isinstance(metadata, dict) and metadata.get(IN_REPORT_KEY) == "true"


def as_geojson(
    feature_id: uuid.UUID | str,
    geometry: dict[str, Any],
    properties: dict[str, Any],
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Feature in QuPath's key order; `provenance` goes under `properties.slidebridge`."""
    props = dict(properties)
    if provenance is not None:
        props[SERVER_KEY] = provenance
    return {"type": "Feature", "id": str(feature_id), "geometry": geometry, "properties": props}


def _check_colour(classification: dict[str, Any]) -> None:
    if "color" in classification:
        colour = classification["color"]
        if (
            not isinstance(colour, list)
            or len(colour) != 3
            or not all(type(c) is int and 0 <= c <= 255 for c in colour)
        ):
            raise InvalidAnnotationError(N_("classification.color is [r, g, b], each 0..255"))
    # QuPath before 0.4 wrote a packed ARGB integer instead; kept as it came.
    if "colorRGB" in classification and type(classification["colorRGB"]) is not int:
        raise InvalidAnnotationError(N_("classification.colorRGB must be an integer"))


def _check_properties(properties: Any) -> dict[str, Any]:
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise InvalidAnnotationError(N_("properties must be an object"))
    properties = {key: value for key, value in properties.items() if key != SERVER_KEY}
    object_type = properties.setdefault("objectType", OBJECT_TYPE)
    if object_type != OBJECT_TYPE:
        raise InvalidAnnotationError(
            N_(
                "objectType {object_type}: only annotations are stored",
                object_type=repr(str(object_type)[:40]),
            )
        )
    classification = properties.get("classification")
    if classification is not None:
        if not isinstance(classification, dict):
            raise InvalidAnnotationError(N_("classification must be {name, color}"))
        name = classification.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= MAX_CLASS_NAME:
            raise InvalidAnnotationError(
                N_("classification.name: 1..{count} characters", count=MAX_CLASS_NAME)
            )
        _check_colour(classification)
    metadata = properties.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(
            isinstance(value, str) for value in metadata.values()
        ):
            raise InvalidAnnotationError(N_("metadata must map names to strings (as in QuPath)"))
        if len(metadata.get("comment", "")) > MAX_COMMENT:
            raise InvalidAnnotationError(
                N_("comment longer than {count} characters", count=MAX_COMMENT)
            )
        if metadata.get(IN_REPORT_KEY, "false") not in ("true", "false"):
            raise InvalidAnnotationError(
                N_('metadata.{key} is "true" or "false"', key=IN_REPORT_KEY)
            )
    if len(json.dumps(properties)) > MAX_PROPERTIES_BYTES:
        raise InvalidAnnotationError(
            N_("properties larger than {max_bytes} bytes", max_bytes=MAX_PROPERTIES_BYTES)
        )
    checked: dict[str, Any] = properties
    return checked


def _feature_id(value: Any) -> uuid.UUID:
    if value is None:
        return uuid.uuid4()  # QuPath before 0.4 wrote no ids
    if not isinstance(value, str):
        raise InvalidAnnotationError(N_("id must be a UUID string"))
    try:
        return uuid.UUID(value)
    except ValueError as error:
        raise InvalidAnnotationError(
            N_("id {value} is not a UUID", value=repr(value[:40]))
        ) from error


def parse_feature(value: Any, width: int, height: int, *, index: int | None = None) -> Feature:
    """A validated Feature for a `width` x `height` slide, or InvalidAnnotationError."""
    try:
        if not isinstance(value, dict) or value.get("type") != "Feature":
            raise InvalidAnnotationError(N_('expected a GeoJSON Feature ("type": "Feature")'))
        geometry = value.get("geometry")
        shape = check_geometry(geometry, width, height)
        assert isinstance(geometry, dict)
        properties = _check_properties(value.get("properties"))
        return Feature(_feature_id(value.get("id")), geometry, properties, shape)
    except InvalidAnnotationError as error:
        if index is None or error.index is not None:
            raise
        raise InvalidAnnotationError(error.reason, index=index) from error


def parse_collection(value: Any, width: int, height: int) -> list[Feature]:
    """Features of a FeatureCollection, a bare list (QuPath's plain export) or one Feature."""
    if isinstance(value, dict) and value.get("type") == "FeatureCollection":
        items = value.get("features")
        if not isinstance(items, list):
            raise InvalidAnnotationError(N_("a FeatureCollection needs a features list"))
    elif isinstance(value, list):
        items = value
    elif isinstance(value, dict) and value.get("type") == "Feature":
        items = [value]
    else:
        raise InvalidAnnotationError(N_("expected a GeoJSON FeatureCollection or Feature"))
    if len(items) > MAX_FEATURES:
        raise InvalidAnnotationError(
            N_("more than {count} features in one request", count=MAX_FEATURES)
        )
    features = [parse_feature(item, width, height, index=i) for i, item in enumerate(items)]
    seen: set[uuid.UUID] = set()
    for i, feature in enumerate(features):
        if feature.id in seen:
            raise InvalidAnnotationError(N_("duplicate id {id}", id=feature.id), index=i)
        seen.add(feature.id)
    return features


def feature_collection(features: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def for_qupath(feature: dict[str, Any]) -> dict[str, Any]:
    """The feature as QuPath exchanges it: without the server's provenance key."""
    properties = {k: v for k, v in feature.get("properties", {}).items() if k != SERVER_KEY}
    return {**feature, "properties": properties}
