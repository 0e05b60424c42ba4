"""QuPath's GeoJSON: a hand-written export in QuPath's documented format round-trips
unchanged; server provenance can't be forged; bad features name their index."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from annotations import InvalidAnnotationError, feature_collection, parse_collection
from annotations.geojson import SERVER_KEY, for_qupath, parse_feature
from annotations.history import Change, Revision, next_version, restore_target

FIXTURE = Path(__file__).parent / "fixtures" / "qupath_export.geojson"
W, H = 2220, 2967


def qupath_export() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FIXTURE.read_text())
    return loaded


def test_qupath_export_round_trips_unchanged() -> None:
    original = qupath_export()
    features = parse_collection(copy.deepcopy(original), W, H)
    assert [f.class_name for f in features] == ["Tumor", "Stroma", "Necrosis", "Lymph node", None]
    exported = feature_collection(f.to_geojson() for f in features)
    assert exported == original
    # Through text as well: what the viewer downloads is what QuPath wrote.
    assert json.loads(json.dumps(exported)) == original


def test_plain_list_and_single_feature_are_accepted() -> None:
    features = qupath_export()["features"]
    assert len(parse_collection(features, W, H)) == 5
    assert len(parse_collection(features[0], W, H)) == 1


def test_provenance_is_server_only_and_dropped_for_qupath() -> None:
    feature = qupath_export()["features"][0]
    feature["properties"][SERVER_KEY] = {"author": "forged"}
    parsed = parse_feature(feature, W, H)
    assert SERVER_KEY not in parsed.properties
    written = parsed.to_geojson({"author": "path_north", "version": 2})
    assert written["properties"][SERVER_KEY]["author"] == "path_north"
    assert SERVER_KEY not in for_qupath(written)["properties"]


def test_missing_id_and_object_type_are_filled() -> None:
    parsed = parse_feature(
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}}, W, H
    )
    assert isinstance(parsed.id, uuid.UUID)
    assert parsed.properties == {"objectType": "annotation"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"objectType": "detection"}, "only annotations"),
        ({"classification": {"name": "", "color": [1, 2, 3]}}, "classification.name"),
        ({"classification": {"name": "Tumor", "color": [256, 0, 0]}}, "0..255"),
        ({"classification": {"name": "Tumor", "color": "#ff0000"}}, "0..255"),
        ({"metadata": {"comment": 5}}, "strings"),
        ({"metadata": {"comment": "x" * 2001}}, "comment longer"),
    ],
)
def test_bad_properties_name_the_feature(change: dict[str, Any], reason: str) -> None:
    collection = qupath_export()
    collection["features"][2]["properties"].update(change)
    with pytest.raises(InvalidAnnotationError, match=f"feature 2: .*{reason}") as raised:
        parse_collection(collection, W, H)
    assert raised.value.index == 2


def test_duplicate_ids_and_bad_ids_are_refused() -> None:
    features = qupath_export()["features"]
    with pytest.raises(InvalidAnnotationError, match="duplicate id"):
        parse_collection([features[0], features[0]], W, H)
    features[1]["id"] = "not-a-uuid"
    with pytest.raises(InvalidAnnotationError, match="not a UUID"):
        parse_collection(features, W, H)


def test_shapes_outside_a_smaller_slide_are_refused() -> None:
    with pytest.raises(InvalidAnnotationError, match="outside the slide"):
        parse_collection(qupath_export(), 1000, 1000)


def test_history_restores_any_kept_version_but_not_a_deletion() -> None:
    now = datetime.now(UTC)
    first = {"type": "Feature", "id": "x", "geometry": {}, "properties": {"v": 1}}
    revisions = [
        Revision(1, Change.created, first, "a", now),
        Revision(2, Change.updated, {**first, "properties": {"v": 2}}, "b", now),
        Revision(3, Change.deleted, None, "b", now),
    ]
    assert next_version(revisions) == 4
    assert restore_target(revisions, 1) == first
    with pytest.raises(InvalidAnnotationError, match="deletion"):
        restore_target(revisions, 3)
    with pytest.raises(InvalidAnnotationError, match="no version 9"):
        restore_target(revisions, 9)
