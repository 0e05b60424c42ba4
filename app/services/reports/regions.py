"""Pictures of the regions the pathologist marked "include in report", made at signing.

Each marked annotation of the case's slides becomes one picture: the slide's pixels
around the region (a margin of PADDING on each side), rendered server-side by the
IIIF renderer, with the annotations in view drawn on top (the marked one thicker) and
a scale bar in µm. The pictures are stored with the report version (`ReportRegion`),
so the document of a version never changes afterwards, even if the slide or the
annotations do. A region that cannot be pictured (its slide failed) is left out and
said so in the case's timeline; signing never fails for a picture.
"""

from __future__ import annotations

import io
import logging
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import reportlab
from PIL import Image, ImageDraw, ImageFont
from shapely.geometry import box as shapely_box
from shapely.geometry import shape
from sqlmodel import Session, col, select

from app.core.db import Database
from app.models.annotations import Annotation
from app.models.cases import CaseSlide, ReportRegion
from app.models.slides import SlideRecord
from app.services.imaging.render import plan, render_pixels
from app.services.tiles import TileService
from tiler import SlideBridgeError

log = logging.getLogger(__name__)

#: Most regions pictured in one report version (in slide order, then the order drawn).
MAX_REGIONS = 8
#: Largest picture, in pixels; never more than MAX_UPSCALE screen pixels per slide pixel.
PICTURE_SIZE = (1200, 900)
MAX_UPSCALE = 2.0
#: Margin around the region, as a share of its size on each side.
PADDING = 0.15
#: Smallest field pictured, in level-0 pixels (a point or a short line needs context).
MIN_FIELD = 256
#: Other annotations drawn in a picture at most (a busy slide's cell marks).
MAX_DRAWN = 500
DEFAULT_COLOUR = (255, 200, 0)
#: Bitstream Vera, shipped inside reportlab (Pillow's built-in font has no µ).
LABEL_FONT = str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf")


@dataclass(frozen=True)
class Camera:
    """What pictures a slide region: open slides and the render limit."""

    tiles: TileService
    max_read_pixels: int


@dataclass(frozen=True)
class Picture:
    """A region pictured, before it is given its report version."""

    slide: SlideRecord
    slide_number: int
    annotation: Annotation
    box: tuple[int, int, int, int]
    jpeg: bytes
    size: tuple[int, int]

    def row(self, case_id: uuid.UUID, version: int, position: int) -> ReportRegion:
        metadata = self.annotation.properties.get("metadata")
        comment = metadata.get("comment") if isinstance(metadata, dict) else None
        return ReportRegion(
            case_id=case_id,
            report_version=version,
            position=position,
            slide_id=self.slide.id,
            slide_number=self.slide_number,
            annotation_id=self.annotation.id,
            annotation_version=self.annotation.version,
            class_name=self.annotation.class_name,
            comment=comment[:2000] if isinstance(comment, str) else None,
            geometry=self.annotation.geometry,
            l0_x=self.box[0],
            l0_y=self.box[1],
            l0_width=self.box[2],
            l0_height=self.box[3],
            mpp=self.slide.mpp_x if self.slide.mpp_x == self.slide.mpp_y else None,
            image_jpeg=self.jpeg,
            image_width=self.size[0],
            image_height=self.size[1],
        )


def _marked(session: Session, case_id: uuid.UUID) -> list[tuple[SlideRecord, int, Annotation]]:
    slides = session.exec(
        select(SlideRecord)
        .join(CaseSlide, col(CaseSlide.slide_id) == col(SlideRecord.id))
        .where(CaseSlide.case_id == case_id)
        .order_by(col(CaseSlide.attached_at), col(SlideRecord.id))
    ).all()
    number = {slide.id: index + 1 for index, slide in enumerate(slides)}
    by_id = {slide.id: slide for slide in slides}
    rows = session.exec(
        select(Annotation)
        .where(col(Annotation.slide_id).in_(list(by_id)), col(Annotation.in_report))
        .order_by(col(Annotation.created_at), col(Annotation.id))
    ).all()
    marked = sorted(rows, key=lambda row: number[row.slide_id])
    return [(by_id[row.slide_id], number[row.slide_id], row) for row in marked]


def field_of(geometry: dict[str, Any], width: int, height: int) -> tuple[int, int, int, int]:
    """The level-0 field (x, y, w, h) pictured around a geometry: its bounds with a margin,
    at least MIN_FIELD on a side, inside the slide."""
    x0, y0, x1, y1 = shape(geometry).bounds
    pad_x, pad_y = (x1 - x0) * PADDING, (y1 - y0) * PADDING
    x0, y0, x1, y1 = x0 - pad_x, y0 - pad_y, x1 + pad_x, y1 + pad_y
    for low, high, limit, axis in ((x0, x1, width, 0), (y0, y1, height, 1)):
        grow = max(0.0, MIN_FIELD - (high - low)) / 2
        low, high = max(0.0, low - grow), min(float(limit), high + grow)
        if axis == 0:
            x0, x1 = low, high
        else:
            y0, y1 = low, high
    left, top = math.floor(x0), math.floor(y0)
    return left, top, max(1, math.ceil(x1) - left), max(1, math.ceil(y1) - top)


def picture_size(field: tuple[int, int, int, int]) -> tuple[int, int]:
    _, _, width, height = field
    scale = min(PICTURE_SIZE[0] / width, PICTURE_SIZE[1] / height, MAX_UPSCALE)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _colour(properties: dict[str, Any]) -> tuple[int, int, int]:
    classification = properties.get("classification")
    colour = classification.get("color") if isinstance(classification, dict) else None
    if isinstance(colour, list) and len(colour) == 3:
        return (int(colour[0]), int(colour[1]), int(colour[2]))
    return DEFAULT_COLOUR


def _rings(geometry: dict[str, Any]) -> Iterable[tuple[str, list[Any]]]:
    """(kind, coordinates) of each drawable part: "line" (open), "ring" (closed), "point"."""
    kind, coords = geometry.get("type"), geometry.get("coordinates", [])
    if kind == "Point":
        yield "point", [coords]
    elif kind == "MultiPoint":
        yield "point", list(coords)
    elif kind == "LineString":
        yield "line", list(coords)
    elif kind == "MultiLineString":
        for line in coords:
            yield "line", list(line)
    elif kind == "Polygon":
        for ring in coords:
            yield "ring", list(ring)
    elif kind == "MultiPolygon":
        for polygon in coords:
            for ring in polygon:
                yield "ring", list(ring)
    elif kind == "GeometryCollection":
        for part in geometry.get("geometries", []):
            yield from _rings(part)


def draw_annotations(
    image: Image.Image,
    field: tuple[int, int, int, int],
    features: Sequence[tuple[dict[str, Any], tuple[int, int, int], bool]],
) -> None:
    """Draw (geometry, colour, marked) in level-0 pixels onto the picture of `field`."""
    x0, y0, width, height = field
    sx, sy = image.width / width, image.height / height
    draw = ImageDraw.Draw(image)
    for geometry, colour, marked in features:
        line = 4 if marked else 2
        for kind, coords in _rings(geometry):
            points = [((x - x0) * sx, (y - y0) * sy) for x, y, *_ in coords]
            if kind == "point":
                for px, py in points:
                    r = 6 if marked else 4
                    draw.ellipse((px - r, py - r, px + r, py + r), outline=colour, width=line)
            elif len(points) > 1:
                draw.line(points, fill=colour, width=line, joint="curve")


def _nice_length(um: float) -> float:
    """The largest of 1, 2, 5 x 10^k not above `um`."""
    power = 10.0 ** math.floor(math.log10(um))
    return float(max(step * power for step in (1, 2, 5) if step * power <= um))


def scale_label(um: float) -> str:
    return f"{um / 1000:g} mm" if um >= 1000 else f"{um:g} µm"


def draw_scale_bar(image: Image.Image, um_per_pixel: float) -> None:
    """A bar of a round length (about a fifth of the width), bottom left, with its length."""
    length_um = _nice_length(image.width / 5 * um_per_pixel)
    length = round(length_um / um_per_pixel)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(LABEL_FONT, size=max(12, image.width // 50))
    x, y = 12, image.height - 16
    label = scale_label(length_um)
    text_box = draw.textbbox((x, y - 8), label, font=font, anchor="lb")
    draw.rectangle(
        (x - 6, text_box[1] - 6, max(x + length, text_box[2]) + 6, y + 8), fill=(255, 255, 255)
    )
    draw.rectangle((x, y - 3, x + length, y + 3), fill=(0, 0, 0))
    draw.text((x, y - 8), label, fill=(0, 0, 0), font=font, anchor="lb")


def _in_view(
    session: Session, slide: SlideRecord, field: tuple[int, int, int, int], marked: Annotation
) -> list[tuple[dict[str, Any], tuple[int, int, int], bool]]:
    x, y, w, h = field
    window = shapely_box(x, y, x + w, y + h)
    drawn: list[tuple[dict[str, Any], tuple[int, int, int], bool]] = []
    rows = session.exec(
        select(Annotation.id, Annotation.geometry, Annotation.properties).where(
            Annotation.slide_id == slide.id
        )
    ).all()
    for annotation_id, geometry, properties in rows:
        if annotation_id == marked.id or len(drawn) >= MAX_DRAWN:
            continue
        if shape(geometry).intersects(window):
            drawn.append((dict(geometry), _colour(dict(properties)), False))
    drawn.append((marked.geometry, _colour(marked.properties), True))  # on top
    return drawn


def picture(
    camera: Camera, session: Session, slide: SlideRecord, number: int, marked: Annotation
) -> Picture:
    handle = camera.tiles.handle(slide)
    field = field_of(marked.geometry, handle.info.width, handle.info.height)
    size = picture_size(field)
    source = plan(handle, field, size, camera.max_read_pixels)
    image = Image.fromarray(render_pixels(handle, source, size))
    draw_annotations(image, field, _in_view(session, slide, field, marked))
    if slide.mpp_x and slide.mpp_x == slide.mpp_y:
        draw_scale_bar(image, slide.mpp_x * field[2] / size[0])
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return Picture(slide, number, marked, field, buffer.getvalue(), size)


def capture(db: Database, camera: Camera, case_id: uuid.UUID) -> tuple[list[Picture], int]:
    """Pictures of the case's marked regions (at most MAX_REGIONS), and how many marked
    regions were left out (beyond the limit, or not picturable)."""
    pictures: list[Picture] = []
    left_out = 0
    with db.read() as session:
        marked = _marked(session, case_id)
        for slide, number, annotation in marked[:MAX_REGIONS]:
            try:
                pictures.append(picture(camera, session, slide, number, annotation))
            except SlideBridgeError as error:
                log.warning("region %s not pictured: %s", annotation.id, error)
                left_out += 1
    return pictures, left_out + max(0, len(marked) - MAX_REGIONS)
