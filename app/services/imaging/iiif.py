"""IIIF Image API 3.0: parsing `{region}/{size}/{rotation}/{quality}.{format}` and info.json.

Pure geometry, no pixels: every parameter is checked here, so the renderer only
sees regions inside the image and sizes within the configured limits. What the
spec calls a bad request (bad syntax, an empty region or size, a size above the
region without `^`, a size above maxWidth/maxHeight/maxArea, an unsupported
rotation, quality or format) is a 400 (`InvalidRequestError`), as the spec and
the official validator ask.

One reading follows the validator rather than the spec's prose: `!w,h` whose
fitted size is larger than the region is a 400 without `^` (the spec says to
return the region's own size; the validator's `size_noup` test asks for an error).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from app.core.errors import InvalidRequestError
from app.core.i18n import N_

CONTEXT = "http://iiif.io/api/image/3/context.json"
#: The compliance level we claim, as the profile `Link` of every image.
PROFILE = "http://iiif.io/api/image/3/level2.json"
JSON_LD = f'application/ld+json;profile="{CONTEXT}"'
FORMATS = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
QUALITIES = ("default", "color", "gray", "bitonal")
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
_ROTATION = re.compile(r"(!)?(\d{1,3}(?:\.\d{1,9})?)")


@dataclass(frozen=True)
class Limits:
    max_width: int
    max_height: int
    max_area: int

    def allow(self, width: int, height: int) -> bool:
        return (
            width <= self.max_width
            and height <= self.max_height
            and width * height <= (self.max_area)
        )


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
        raise InvalidRequestError(
            N_("bad IIIF region {text}: full, square, x,y,w,h or pct:", text=repr(text[:40]))
        )
    if w <= 0 or h <= 0 or x >= width or y >= height:
        raise InvalidRequestError(
            N_("IIIF region {text} is empty or outside the image", text=repr(text))
        )
    return x, y, min(w, width - x), min(h, height - y)


def _round_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up, in integers (no float error at .5)."""
    return (2 * numerator + denominator) // (2 * denominator)


def _fit(region_w: int, region_h: int, box_w: int, box_h: int) -> tuple[int, int]:
    """The largest size of the region's aspect inside box_w x box_h."""
    if box_w * region_h <= box_h * region_w:
        return box_w, max(1, _round_div(box_w * region_h, region_w))
    return max(1, _round_div(box_h * region_w, region_h)), box_h


def _largest_within(region_w: int, region_h: int, limits: Limits) -> tuple[int, int]:
    """The region's aspect scaled (up or down) to the largest size the limits allow."""
    scale = min(
        limits.max_width / region_w,
        limits.max_height / region_h,
        math.sqrt(limits.max_area / (region_w * region_h)),
    )
    w, h = max(1, math.floor(region_w * scale)), max(1, math.floor(region_h * scale))
    while not limits.allow(w, h):  # a float that rounded up by a hair
        w, h = max(1, w - 1), max(1, h - 1)
    return w, h


def parse_size(text: str, region_w: int, region_h: int, limits: Limits) -> tuple[int, int]:
    upscale = text.startswith("^")
    spec = text[1:] if upscale else text
    if spec == "max":
        if upscale:
            w, h = _largest_within(region_w, region_h, limits)
        elif limits.allow(region_w, region_h):
            w, h = region_w, region_h
        else:
            w, h = _largest_within(region_w, region_h, limits)
    elif match := _SIZE_W.fullmatch(spec):
        w = int(match.group(1))
        h = max(1, _round_div(w * region_h, region_w))
    elif match := _SIZE_H.fullmatch(spec):
        h = int(match.group(1))
        w = max(1, _round_div(h * region_w, region_h))
    elif match := _SIZE_PCT.fullmatch(spec):
        pct = float(match.group(1))
        if pct > 100 and not upscale:
            raise InvalidRequestError(
                N_("IIIF size {text} is above 100%: use ^ to upscale", text=repr(text))
            )
        w, h = round(region_w * pct / 100), round(region_h * pct / 100)
    elif match := _SIZE_WH.fullmatch(spec):
        confined, bw, bh = match.group(1), int(match.group(2)), int(match.group(3))
        if bw <= 0 or bh <= 0:
            raise InvalidRequestError(N_("IIIF size {text} is empty", text=repr(text)))
        w, h = _fit(region_w, region_h, bw, bh) if confined else (bw, bh)
    else:
        raise InvalidRequestError(
            N_("bad IIIF size {text}: max, w,h, !w,h, w,, ,h or pct:n", text=repr(text[:40]))
        )
    if w <= 0 or h <= 0:
        raise InvalidRequestError(N_("IIIF size {text} is empty", text=repr(text)))
    if not upscale and (w > region_w or h > region_h):
        raise InvalidRequestError(
            N_("IIIF size {text} is larger than the region: use ^ to upscale", text=repr(text))
        )
    if not limits.allow(w, h):
        raise InvalidRequestError(
            N_(
                "{w}x{h} is beyond the largest image served "
                "({max_width}x{max_height}, {max_area} pixels)",
                w=w,
                h=h,
                max_width=limits.max_width,
                max_height=limits.max_height,
                max_area=limits.max_area,
            )
        )
    return w, h


def parse_rotation(text: str) -> tuple[bool, int]:
    match = _ROTATION.fullmatch(text)
    degrees = float(match.group(2)) if match else -1.0
    if match is None or degrees > 360:
        raise InvalidRequestError(
            N_("bad IIIF rotation {text}: 0 to 360, ! to mirror", text=repr(text[:20]))
        )
    if degrees % 90:
        raise InvalidRequestError(
            N_("IIIF rotation {text} is not supported: 0, 90, 180 or 270", text=repr(text))
        )
    return match.group(1) == "!", int(degrees) % 360


def parse_quality_format(text: str) -> tuple[str, str]:
    quality, dot, fmt = text.rpartition(".")
    if not dot:
        raise InvalidRequestError(
            N_("bad IIIF quality.format {text}: e.g. default.jpg", text=repr(text[:40]))
        )
    if quality not in QUALITIES:
        raise InvalidRequestError(
            N_(
                "bad IIIF quality {quality}: {choices}",
                quality=repr(quality[:20] or text[:20]),
                choices=", ".join(QUALITIES),
            )
        )
    if fmt not in FORMATS:
        raise InvalidRequestError(
            N_("bad IIIF format {fmt}: {choices}", fmt=repr(fmt[:20]), choices=", ".join(FORMATS))
        )
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


def info_media_type(accept: str | None) -> str:
    """JSON-LD only for a client that asks for it; plain JSON otherwise (spec 5.1)."""
    for media_range in (accept or "").split(","):
        media, *params = (part.strip() for part in media_range.split(";"))
        refused = any(p.replace(" ", "") in {"q=0", "q=0.0", "q=0.00", "q=0.000"} for p in params)
        if media.lower() == "application/ld+json" and not refused:
            return JSON_LD
    return "application/json"


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
        if limits.allow(w, h):
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
        "extraQualities": ["color", "gray", "bitonal"],
        "extraFormats": ["webp"],
        "extraFeatures": ["mirroring", "sizeUpscaling"],
    }
