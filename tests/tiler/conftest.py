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
    """Slides the real folder lacks: several regions and stages, odd sizes, no mpp,
    and a deflate slide whose pixels only OpenSlide decodes."""
    folder = tmp_path_factory.mktemp("synthetic")
    specs = {
        "odd-jpeg": SyntheticSlideSpec(width=5001, height=4003, seed=3),
        "no-mpp": SyntheticSlideSpec(width=1500, height=900, mpp=None, objective_power=None),
        "deflate": SyntheticSlideSpec(width=4100, height=2300, compression="deflate", seed=5),
    }
    return {name: build_slide(folder / f"{name}.svs", spec) for name, spec in specs.items()}
