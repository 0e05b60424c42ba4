"""The pyvips dzsave contender: libvips' own pyramid writer, from the pyvips-binary wheel.

`python -m benchmarks.pyvips_baseline SLIDE OUTDIR` writes `OUTDIR/NAME.dzi` and
`OUTDIR/NAME_files/` with the benchmark's settings. The wheel has no
openslideload, so the slide is read with tiffload (it reads Aperio JPEG TIFFs;
level 0 is the first page).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pyvips

TILE_SIZE = 254
OVERLAP = 1
SUFFIX = ".jpg[Q=75]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("slide", type=Path)
    parser.add_argument("outdir", type=Path)
    args = parser.parse_args()
    start = time.perf_counter()
    image = pyvips.Image.new_from_file(str(args.slide), access="sequential")
    args.outdir.mkdir(parents=True, exist_ok=True)
    image.dzsave(
        str(args.outdir / args.slide.stem),
        tile_size=TILE_SIZE,
        overlap=OVERLAP,
        suffix=SUFFIX,
    )
    loader = image.get("vips-loader") if image.get_typeof("vips-loader") else None
    print(json.dumps({"seconds": round(time.perf_counter() - start, 3), "loader": loader}))


if __name__ == "__main__":
    main()
