"""IIIF Image API 3.0: parsing `{region}/{size}/{rotation}/{quality}.{format}` and info.json.

Pure geometry, no pixels: every parameter is checked here, so the renderer only
sees regions inside the image and sizes within the configured limits. Syntax
errors are 422s (our API contract for bad requests; the IIIF spec would say 400),
sizes beyond the limits 413s.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from app.core.errors import PayloadTooLargeError, UnprocessableError

CONTEXT = "http://iiif.io/api/image/3/context.json"
MEDIA_TYPE = f'application/ld+json;profile="{CONTEXT}"'
FORMATS = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
QUALITIES = ("default", "color", "gray")
#: Tile size advertised in info.json; viewers then ask for 512-pixel regions.
TILE = 512

_INT = r"(\d{1,9})"
_NUM = r"(\d{1,9}(?:\.\d{1,9})?)"
_REGION_PX = re.compile(rf"{_INT},{_INT},{_INT},{_INT}")
_REGION_PCT = re.compile(rf"pct:{_NUM},{_NUM},{_NUM},{_NUM}")
_SIZE_W = re.compile(rf"{_INT},")
_SIZE_H = re.compile(rf",{_INT}")
_SIZE_WH = re.compile(rf"(!)?{_INT},{_INT}")
_SIZE_PCT = re.compile(rf"pct:{_NUM}")
_ROTATION = re.compile(r"(!)?(0|90|180|270)(?:\.0+)?")


@dataclass(frozen=True)
class Limits:
    max_width: int
    max_height: int
    max_area: int


@dataclass(frozen=True)
class ImageRequest:
    """A validated request in level-0 pixels: region box, output size, and the rest."""

    l0_x: int
    l0_y: int
    l0_width: int
    l0_height: int
    width: int
    height: int
    mirror: bool
    rotation: int
    quality: str
    format: str

    @property
    def media_type(self) -> str:
        return FORMATS[self.format]


def parse_region(text: str, width: int, height: int) -> tuple[int, int, int, int]:
    if text == "full":
        return 0, 0, width, height
    if text == "square":
        side = min(width, height)
        return (width - side) // 2, (height - side) // 2, side, side
    if match := _REGION_PX.fullmatch(text):
        x, y, w, h = (int(v) for v in match.groups())
    elif match := _REGION_PCT.fullmatch(text):
        px, py, pw, ph = (float(v) for v in match.groups())
        x, y = round(px * width / 100), round(py * height / 100)
        w, h = round(pw * width / 100), round(ph * height / 100)
    else:
        raise UnprocessableError(f"bad IIIF region {text!r}")
    if w <= 0 or h <= 0 or x >= width or y >= height:
        raise UnprocessableError(f"IIIF region {text!r} is empty or outside the image")
    return x, y, min(w, width - x), min(h, height - y)


def parse_size(text: str, region_w: int, region_h: int, limits: Limits) -> tuple[int, int]:
    upscale = text.startswith("^")
    spec = text[1:] if upscale else text
    aspect = region_w / region_h
    if spec == "max":
        w, h = region_w, region_h
        if not upscale:
            scale = min(
                1.0,
                limits.max_width / w,
                limits.max_height / h,
                math.sqrt(limits.max_area / (w * h)),
            )
            return max(1, int(w * scale)), max(1, int(h * scale))
    elif match := _SIZE_W.fullmatch(spec):
        w = int(match.group(1))
        h = max(1, round(w / aspect))
    elif match := _SIZE_H.fullmatch(spec):
        h = int(match.group(1))
        w = max(1, round(h * aspect))
    elif match := _SIZE_PCT.fullmatch(spec):
        pct = float(match.group(1))
        w, h = round(region_w * pct / 100), round(region_h * pct / 100)
    elif match := _SIZE_WH.fullmatch(spec):
        confined, bw, bh = match.group(1), int(match.group(2)), int(match.group(3))
        if confined and bw > 0 and bh > 0:
            scale = min(bw / region_w, bh / region_h)
            w, h = max(1, math.floor(region_w * scale)), max(1, math.floor(region_h * scale))
        else:
            w, h = bw, bh
    else:
        raise UnprocessableError(f"bad IIIF size {text!r}")
    if w <= 0 or h <= 0:
        raise UnprocessableError(f"IIIF size {text!r} is empty")
    if not upscale and (w > region_w or h > region_h):
        raise UnprocessableError(f"IIIF size {text!r} is larger than the region: use ^ to upscale")
    if w > limits.max_width or h > limits.max_height or w * h > limits.max_area:
        raise PayloadTooLargeError(
            f"{w}x{h} is beyond the largest image served "
            f"({limits.max_width}x{limits.max_height}, {limits.max_area} pixels)"
        )
    return w, h


def parse_rotation(text: str) -> tuple[bool, int]:
    match = _ROTATION.fullmatch(text)
    if match is None:
        raise UnprocessableError(f"bad IIIF rotation {text!r}: 0, 90, 180 or 270, ! to mirror")
    return match.group(1) == "!", int(match.group(2))


def parse_quality_format(text: str) -> tuple[str, str]:
    quality, dot, fmt = text.rpartition(".")
    if not dot:
        raise UnprocessableError(f"bad IIIF quality.format {text!r}: e.g. default.jpg")
    if quality not in QUALITIES:
        raise UnprocessableError(f"bad IIIF quality {quality or text!r}: {', '.join(QUALITIES)}")
    if fmt not in FORMATS:
        raise UnprocessableError(f"bad IIIF format {fmt!r}: {', '.join(FORMATS)}")
    return quality, fmt


def parse(
    region: str,
    size: str,
    rotation: str,
    quality_format: str,
    width: int,
    height: int,
    limits: Limits,
) -> ImageRequest:
    x, y, w, h = parse_region(region, width, height)
    out_w, out_h = parse_size(size, w, h, limits)
    mirror, degrees = parse_rotation(rotation)
    quality, fmt = parse_quality_format(quality_format)
    return ImageRequest(x, y, w, h, out_w, out_h, mirror, degrees, quality, fmt)


def scale_factors(width: int, height: int) -> list[int]:
    factors = [1]
    while math.ceil(max(width, height) / factors[-1]) > TILE:
        factors.append(factors[-1] * 2)
    return factors


def info_json(service_id: str, width: int, height: int, limits: Limits) -> dict[str, Any]:
    factors = scale_factors(width, height)
    sizes = []
    for factor in reversed(factors):
        w, h = math.ceil(width / factor), math.ceil(height / factor)
        if w <= limits.max_width and h <= limits.max_height and w * h <= limits.max_area:
            sizes.append({"width": w, "height": h})
    return {
        "@context": CONTEXT,
        "id": service_id,
        "type": "ImageService3",
        "protocol": "http://iiif.io/api/image",
        "profile": "level2",
        "width": width,
        "height": height,
        "maxWidth": limits.max_width,
        "maxHeight": limits.max_height,
        "maxArea": limits.max_area,
        "tiles": [{"width": TILE, "height": TILE, "scaleFactors": factors}],
        "sizes": sizes,
        "extraQualities": ["gray"],
        "extraFormats": ["webp"],
        "extraFeatures": ["mirroring", "sizeUpscaling"],
    }
