"""The `slidebridge info` and `slidebridge tile` contract, run as a real process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import SLIDEBRIDGE


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SLIDEBRIDGE, *args], capture_output=True, text=True, timeout=120)


def test_info_json(shared_slides: Path) -> None:
    done = run("info", str(shared_slides / "aperio/CMU-1-Small-Region.svs"), "--json")
    assert done.returncode == 0, done.stderr
    meta = json.loads(done.stdout)
    assert meta["vendor"] == "aperio"
    assert (meta["width"], meta["height"]) == (2220, 2967)
    assert meta["levels"] == [{"width": 2220, "height": 2967, "downsample": 1.0}]
    assert meta["mpp_x"] == pytest.approx(0.499) and meta["mpp_y"] == pytest.approx(0.499)
    assert meta["objective_power"] == 20
    assert meta["associated"] == ["label", "macro", "thumbnail"]


def test_info_text(shared_slides: Path) -> None:
    done = run("info", str(shared_slides / "generic-tiff/boxes.tiff"))
    assert done.returncode == 0
    assert "generic-tiff, 300 x 250" in done.stdout and "level 3" in done.stdout


def test_tile_writes_dzi_and_summary(shared_slides: Path, tmp_path: Path) -> None:
    done = run(
        "tile", str(shared_slides / "aperio/CMU-1-Small-Region.svs"), str(tmp_path), "--json"
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["tiles"] == 160
    assert summary["seconds"] > 0 and summary["megapixels_per_second"] > 0
    assert (tmp_path / "CMU-1-Small-Region.dzi").is_file()
    assert len(list((tmp_path / "CMU-1-Small-Region_files").rglob("*.jpeg"))) == 160


def test_tile_options(shared_slides: Path, tmp_path: Path) -> None:
    done = run(
        "tile",
        str(shared_slides / "generic-tiff/boxes.tiff"),
        str(tmp_path),
        "--tile-size",
        "128",
        "--overlap",
        "0",
        "--format",
        "webp",
        "--quality",
        "60",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    dzi = (tmp_path / "boxes.dzi").read_text()
    assert 'TileSize="128"' in dzi and 'Overlap="0"' in dzi and 'Format="webp"' in dzi
    assert (tmp_path / "boxes_files" / "9" / "2_1.webp").is_file()


@pytest.mark.parametrize(
    "args",
    [
        ("info", "{shared}/broken/broken.svs"),
        ("info", "{shared}/zeiss-czi/RGB-multichannel.czi"),
        ("info", "{shared}/no-such-file.svs"),
        ("tile", "{shared}/broken/unopenable.tiff", "{out}"),
        ("tile", "{shared}/aperio/small.svs", "{out}", "--tile-size", "0"),
        ("tile", "{shared}/aperio/small.svs", "{out}", "--format", "gif"),
        ("tile", "{shared}/aperio/small.svs", "{out}", "--quality", "101"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: tuple[str, ...], shared_slides: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = run(*(a.format(shared=shared_slides, out=out) for a in args))
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("slidebridge: error: ")
    assert "Traceback" not in done.stderr
    assert not out.exists() or not any(out.iterdir())


def test_info_and_tile_of_a_picture(pictures: dict[str, Path], tmp_path: Path) -> None:
    done = run("info", str(pictures["camera16"]), "--json")
    assert done.returncode == 0, done.stderr
    meta = json.loads(done.stdout)
    assert (meta["vendor"], meta["width"], meta["height"]) == ("image-tiff", 700, 500)
    assert meta["mpp_x"] == pytest.approx(0.345, rel=1e-5)
    phone = run("info", str(pictures["phone"]))
    assert "image-jpeg, 480 x 640" in phone.stdout and "resolution: unknown" in phone.stdout
    done = run("tile", str(pictures["phone"]), str(tmp_path), "--json", "--processes", "1")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "phone.dzi").is_file() and json.loads(done.stdout)["tiles"] > 0
