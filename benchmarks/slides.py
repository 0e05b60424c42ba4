"""The slides a benchmark runs on: given paths, or the cached synthetic slide.

Building the 40000x30000 slide takes a while, so it is kept under the bench
directory, named by its spec and by a hash of the builder's source: a changed
spec or a changed builder gives a new file rather than a stale one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import synthetic_slide
from benchmarks.report import console
from benchmarks.synthetic_slide import SyntheticSlideSpec, build_slide

BENCH_DIR = Path("var/bench")


def work_dir(prefix: str) -> Path:
    """A new folder for one run's data (databases, stores, logs) under BENCH_DIR/work,
    absolute (a server the run starts may have another working directory)."""
    root = BENCH_DIR / "work"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root)).resolve()


def _cache_key(spec: SyntheticSlideSpec) -> str:
    digest = hashlib.sha256()
    digest.update(repr(dataclasses.astuple(spec)).encode())
    digest.update(inspect.getsource(synthetic_slide).encode())
    return digest.hexdigest()[:12]


def synthetic(spec: SyntheticSlideSpec, bench_dir: Path = BENCH_DIR) -> Path:
    """The cached synthetic slide for `spec`, built on first use."""
    # .svs so that Debian's `vips` routes it through openslideload as for a scan.
    path = bench_dir / "slides" / f"synthetic-{spec.width}x{spec.height}-{_cache_key(spec)}.svs"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        console.print(f"building synthetic slide {spec.width}x{spec.height} -> {path}")
        start = time.perf_counter()
        build_slide(path, spec)
        console.print(f"built in {time.perf_counter() - start:.1f} s")
    return path


def describe(path: Path, spec: SyntheticSlideSpec | None) -> dict[str, Any]:
    """What the JSON records about a slide: its spec if synthetic, else what OpenSlide says."""
    import openslide

    with openslide.OpenSlide(path) as slide:
        l0_width, l0_height = slide.dimensions
        vendor = slide.properties.get(openslide.PROPERTY_NAME_VENDOR)
        levels = slide.level_count
    return {
        "path": str(path),
        "bytes": path.stat().st_size,
        "vendor": vendor,
        "width": l0_width,
        "height": l0_height,
        "megapixels": l0_width * l0_height / 1e6,
        "slide_levels": levels,
        "synthetic_spec": dataclasses.asdict(spec) if spec is not None else None,
    }


def warm_page_cache(path: Path) -> None:
    """Read the file once so no contender pays the cold read that the next one skips."""
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass


def prepare(
    path: Path | None, width: int, height: int, spec: SyntheticSlideSpec | None = None
) -> tuple[Path, dict[str, Any]]:
    """The slide to measure: `path`, or the cached synthetic slide of that size (or of
    `spec`); with its description, and read once so that no contender pays a cold read
    the next skips."""
    if path is not None:
        spec = None
    else:
        spec = spec or SyntheticSlideSpec(width=width, height=height)
        path = synthetic(spec)
    description = describe(path, spec)
    warm_page_cache(path)
    return path, description
