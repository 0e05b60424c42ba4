"""What an attachment costs on arrival, against hashing the same file (which every
upload pays anyway: its SHA-256 is checked before anything else).

`python -m benchmarks.attachments [--repeat 3] [--json PATH]`

Rows (medians of `--repeat` runs, each on the same files):
- a 12-megapixel phone photograph held sideways (4000x3000 JPEG, EXIF orientation 6,
  GPS tags): the upright, metadata-free tiled copy (`write_picture_copy`), against the
  same copy of the same picture stored upright (`write_tiled_copy`: what a picture
  slide already costs), so the quarter turn's own price shows;
- a 20 MB PDF of 400 compressed object streams and page streams: the active-content scan;
- a decompression-bomb PNG (900 megapixels in ~100 kB): its refusal from the header.
The machine is shared with other work: compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.report import Column, console, print_table, write_json

COLUMNS = [
    Column("arrival step", "row"),
    Column("file MB", "mb", ".2f"),
    Column("seconds", "seconds", ".3f"),
    Column("sha256 seconds", "sha256_seconds", ".3f"),
    Column("x sha256", "ratio", ".1f"),
]


def _photo(path: Path, orientation: int) -> None:
    import pyvips
    from PIL import Image

    base = pyvips.Image.gaussnoise(4000, 3000, sigma=30, mean=140)
    image = base.bandjoin([base * 0.7, base * 0.9]).cast("uchar").copy(interpretation="srgb")
    jpeg = image.jpegsave_buffer(Q=90)
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif.get_ifd(0x8825).update({1: "N", 2: (55.0, 45.0, 12.0), 3: "E", 4: (37.0, 37.0, 1.0)})
    out = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).save(out, "JPEG", quality=90, exif=exif.tobytes())
    path.write_bytes(out.getvalue())


def _pdf(path: Path, streams: int = 400) -> None:
    """Object streams of dictionaries and page streams of noise-like content, ~20 MB."""
    import os

    out = bytearray(b"%PDF-1.7\n")
    for number in range(1, streams + 1):
        body = zlib.compress(b"<< /Type /Annot /Subtype /Link /Rect [0 0 1 1] >> " * 200)
        content = zlib.compress(os.urandom(48_000), 1)
        out += b"%d 0 obj << /Type /ObjStm /N 200 /First 0 /Filter /FlateDecode /Length %d >>" % (
            number,
            len(body),
        )
        out += b"\nstream\n" + body + b"\nendstream\nendobj\n"
        out += b"%d 0 obj << /Filter /FlateDecode /Length %d >>\nstream\n" % (
            number + streams,
            len(content),
        )
        out += content + b"\nendstream\nendobj\n"
    out += b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
    path.write_bytes(bytes(out))


def _median_seconds(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _refuse(path: Path, dest: Path) -> None:
    from tiler.errors import SlideTooLargeError
    from tiler.hardening import MAX_DECODE_PIXELS
    from tiler.registry import write_picture_copy

    try:
        write_picture_copy(path, dest, MAX_DECODE_PIXELS)
    except SlideTooLargeError:
        return
    raise AssertionError("the bomb was not refused")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from app.core.storage import file_sha256
    from app.services.attachments.documents import active_content
    from tests.attachments.files import bomb_png
    from tiler.hardening import MAX_DECODE_PIXELS
    from tiler.registry import write_picture_copy, write_tiled_copy

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sideways, upright, pdf, bomb = (root / n for n in ("s.jpg", "u.jpg", "d.pdf", "b.png"))
        _photo(sideways, 6)
        _photo(upright, 1)
        _pdf(pdf)
        bomb.write_bytes(bomb_png())
        steps: list[tuple[str, Path, Callable[[], object]]] = [
            (
                "photo held sideways: upright copy, no metadata",
                sideways,
                lambda: write_picture_copy(sideways, root / "a.tiff", MAX_DECODE_PIXELS),
            ),
            (
                "same photo upright: tiled copy (a picture slide)",
                upright,
                lambda: write_tiled_copy(upright, root / "b.tiff"),
            ),
            ("PDF: active-content scan", pdf, lambda: active_content(pdf)),
            ("bomb PNG: refused from its header", bomb, lambda: _refuse(bomb, root / "c.tiff")),
        ]
        for name, path, work in steps:
            seconds = _median_seconds(work, args.repeat)
            hashing = _median_seconds(partial(file_sha256, path), args.repeat)
            rows.append(
                {
                    "row": name,
                    "mb": path.stat().st_size / 1e6,
                    "seconds": seconds,
                    "sha256_seconds": hashing,
                    "ratio": seconds / hashing,
                }
            )
    print_table("An attachment's arrival, against hashing the file", COLUMNS, rows)
    turn = rows[0]["seconds"] / rows[1]["seconds"]
    console.print(f"the quarter turn costs {turn:.2f}x the upright copy")
    result = {"rows": rows, "turn_ratio": turn, "repeat": args.repeat}
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
