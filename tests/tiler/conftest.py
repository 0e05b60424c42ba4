"""Slide fixtures: the real slide folder and synthetic slides built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.synthetic_slide import SyntheticSlideSpec, build_slide

REPO = Path(__file__).resolve().parents[2]
#: Real slides live beside the repository (CI clones the repo next to shared/).
SHARED_SLIDES = REPO.parent / "shared" / "slides"


@pytest.fixture(scope="session")
def shared_slides() -> Path:
    assert SHARED_SLIDES.is_dir(), f"the real test slides are missing: {SHARED_SLIDES}"
    return SHARED_SLIDES


@pytest.fixture(scope="session")
def synthetic_slides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Slides the real folder lacks: several regions and stages, odd sizes rounded down
    at each level as scanners do, no mpp, and a deflate slide whose pixels only OpenSlide
    decodes (its 4x level has an exact downsample, its 16x level 16.05 does not)."""
    folder = tmp_path_factory.mktemp("synthetic")
    specs = {
        # Aperio-like: classic TIFF, levels at 1x, 4x and 16x.
        "odd-jpeg": SyntheticSlideSpec(
            width=5001, height=4003, seed=3, levels=(1, 4, 16), bigtiff=False
        ),
        # A BigTIFF halving down to one tile, as libvips and several scanners write.
        "two-step": SyntheticSlideSpec(width=3001, height=2203, seed=4),
        # A single level.
        "no-mpp": SyntheticSlideSpec(
            width=1500, height=900, mpp=None, objective_power=None, levels=(1,)
        ),
        "deflate": SyntheticSlideSpec(
            width=4100, height=2300, compression="deflate", seed=5, levels=(1, 4, 16)
        ),
    }
    return {name: build_slide(folder / f"{name}.svs", spec) for name, spec in specs.items()}
