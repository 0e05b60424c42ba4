"""The official IIIF Image API validator (`iiif-validator`, version 3.0, every test up to
level 2) against a real uvicorn server on loopback, with the validator's test image
served as a slide. Offline: the validator only talks to our server.

The validator sends no credentials of its own; a urllib handler adds the bearer
token of a pathologist to each of its requests, as a IIIF viewer on another origin
does (CORS allows any origin here, the validator asks for `*`).
"""

from __future__ import annotations

import random
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import pyvips
from fastapi import FastAPI
from fastapi.testclient import TestClient
from iiif_validator.validator import ImageAPI, ValidationInfo
from iiif_validator.validator import TestSuite as ValidatorSuite

from app.core.config import Settings
from tests.browser import serve_asgi
from tests.conftest import World, upload

VERSION = "3.0"
LEVEL = 2
#: The validator draws squares, sizes and bad parameters at random: the same run each time.
SEED = 20240611
#: The validator's image: 10x10 squares of 100 pixels.
SQUARE = 100


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"iiif_cors_origins": ["*"]})


def validator_image(path: Path) -> Path:
    """The validator's test image, made from the colours its tests check: square (column
    x, row y) is `colorInfo[x][y]`. A tiled pyramidal TIFF compressed without loss, so
    OpenSlide opens it as a generic-tiff slide with levels at 1x, 2x and 4x."""
    colours = np.asarray(ValidationInfo().colorInfo, dtype=np.uint8)  # [x][y] -> RGB
    pixels = np.repeat(np.repeat(colours.transpose(1, 0, 2), SQUARE, axis=0), SQUARE, axis=1)
    image = pyvips.Image.new_from_array(np.ascontiguousarray(pixels), interpretation="srgb")
    image.tiffsave(
        str(path), tile=True, pyramid=True, compression="deflate", tile_width=256, tile_height=256
    )
    return path


class _Bearer(urllib.request.BaseHandler):
    def __init__(self, token: str) -> None:
        self.token = token

    def http_request(self, request: urllib.request.Request) -> urllib.request.Request:
        request.add_header("Authorization", f"Bearer {self.token}")
        return request


@contextmanager
def validator_signed_in(token: str) -> Iterator[None]:
    """The validator calls urllib's `urlopen`: every request it makes carries `token`."""
    urllib.request.install_opener(urllib.request.build_opener(_Bearer(token)))
    state = random.getstate()
    random.seed(SEED)
    try:
        yield
    finally:
        random.setstate(state)
        urllib.request.install_opener(None)  # type: ignore[arg-type]


def run_validator(base_url: str, identifier: str) -> tuple[list[str], list[str]]:
    """(passed, failed with the reason) for every validator test up to LEVEL."""
    suite = ValidatorSuite(ValidationInfo())
    names = sorted(n for n, t in suite.list_tests(VERSION).items() if t["level"] <= LEVEL)
    server = base_url.removeprefix("http://")
    passed: list[str] = []
    failed: list[str] = []
    for name in names:
        result = ImageAPI(identifier, server, "iiif/3", "http", "", VERSION, debug=False)
        try:
            suite.run_test(name, result)
        except Exception as error:  # the validator choking on an answer fails the test too
            failed.append(f"{name}: {type(error).__name__}: {error} {result.urls}")
            continue
        if result.exception is not None:
            failed.append(f"{name}: {result.exception} {result.urls}")
        else:
            passed.append(name)
    return passed, failed


def test_level2_clean_under_the_official_validator(
    app: FastAPI, client: TestClient, world: World, tmp_path: Path
) -> None:
    image = validator_image(tmp_path / "67352ccc-d1b0-11e1-89ae-279075081939.tif")
    response = upload(client, world, "tech_north", image)
    assert response.status_code == 201, response.text
    slide_id = response.json()["id"]
    with serve_asgi(app) as base, validator_signed_in(world.tokens["path_north"]):
        passed, failed = run_validator(base, slide_id)
    assert not failed, "\n".join(failed)
    # Level 2 of 3.0 has 33 tests (24 up to level 1): all of them ran.
    assert len(passed) == 33, passed
