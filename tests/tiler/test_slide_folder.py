"""Slides of several files (`tiler.slide_folder`, `open_slide` on a folder): a DICOM
series opens as one slide through OpenSlide; MIRAX completeness is read from its
Slidedat.ini; incomplete, mixed and hostile folders are refused with the reason."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.tiler.slide_files import dicom_series as write_series
from tests.tiler.slide_files import tissue
from tiler import BrokenSlideError, SlideError, UnsupportedFormatError, open_slide
from tiler.pyramid import build_pyramid
from tiler.slide_folder import InconsistentSetError, scan


def test_a_dicom_series_is_one_slide(dicom_series: Path) -> None:
    folder = scan(dicom_series)
    assert folder.kind == "dicom" and folder.main.name == "IM0003.dcm"  # the 1x level
    assert folder.files == ("IM0001.dcm", "IM0002.dcm", "IM0003.dcm", "IM0004.dcm")
    with open_slide(dicom_series) as slide:
        info = slide.info
        assert info.vendor == "dicom"
        assert [(lv.width, lv.height) for lv in info.levels] == [
            (1024, 768),
            (512, 384),
            (256, 192),
        ]
        assert info.mpp_x == pytest.approx(0.25) and info.associated == ["label"]
        assert slide.read_rgb((0, 0), 2, (256, 192)).std() > 0
        assert slide.associated_image("label").size == (128, 128)


def test_info_and_tile_read_a_folder(dicom_series: Path, tmp_path: Path) -> None:
    result = build_pyramid(dicom_series, tmp_path / "out", processes=1)
    assert result.path == tmp_path / "out" / "series.dzi"
    assert 'Width="1024"' in result.path.read_text()


def test_files_of_two_series_are_refused(dicom_series: Path, tmp_path: Path) -> None:
    other = write_series(tmp_path / "other", series="1.2.3.9")
    shutil.copy(other / "IM0002.dcm", dicom_series / "IM0009.dcm")
    with pytest.raises(InconsistentSetError, match="2 DICOM series"):
        open_slide(dicom_series)


def test_two_files_of_one_level_are_refused(dicom_series: Path) -> None:
    shutil.copy(dicom_series / "IM0001.dcm", dicom_series / "IM0001-copy.dcm")
    with pytest.raises(InconsistentSetError, match="both the 512x384 level"):
        scan(dicom_series)


def test_a_label_alone_is_no_slide(dicom_series: Path) -> None:
    for name in ("IM0001.dcm", "IM0002.dcm", "IM0003.dcm"):
        (dicom_series / name).unlink()
    # One file left: it is the slide, and OpenSlide says what it lacks.
    with pytest.raises(BrokenSlideError):
        open_slide(dicom_series)


def test_a_stranger_among_dicom_files_is_refused(dicom_series: Path, tmp_path: Path) -> None:
    (dicom_series / "notes.txt").write_text("scanned by A. N. Other")
    with pytest.raises(UnsupportedFormatError, match="one slide"):
        open_slide(dicom_series)


def test_a_folder_of_one_file_is_that_file(shared_slides: Path, tmp_path: Path) -> None:
    shutil.copy(shared_slides / "aperio/small.svs", tmp_path / "small.svs")
    with open_slide(tmp_path) as slide:
        assert slide.info.vendor == "aperio"


def _mirax(root: Path, *, data_files: int = 2) -> Path:
    """The files a MIRAX slide's Slidedat.ini names (what completeness is read from)."""
    (root / "scan").mkdir(parents=True)
    (root / "scan.mrxs").write_bytes(b"")
    names = "\n".join(f"FILE_{i}=Data{i:04d}.dat" for i in range(data_files))
    (root / "scan" / "Slidedat.ini").write_text(
        "[GENERAL]\nSLIDE_ID=abc\n[HIERARCHICAL]\nINDEXFILE=Index.dat\n"
        f"[DATAFILE]\nFILE_COUNT={data_files}\n{names}\n"
    )
    for name in ["Index.dat"] + [f"Data{i:04d}.dat" for i in range(data_files)]:
        (root / "scan" / name).write_bytes(b"\0" * 16)
    return root


def test_mirax_files_are_those_slidedat_names(tmp_path: Path) -> None:
    folder = scan(_mirax(tmp_path / "m"))
    assert folder.kind == "mirax" and folder.main.name == "scan.mrxs"
    assert folder.files == (
        "scan.mrxs",
        "scan/Data0000.dat",
        "scan/Data0001.dat",
        "scan/Index.dat",
        "scan/Slidedat.ini",
    )


def test_incomplete_or_padded_mirax_is_refused(tmp_path: Path) -> None:
    root = _mirax(tmp_path / "missing")
    (root / "scan" / "Data0001.dat").unlink()
    with pytest.raises(
        InconsistentSetError, match=re.escape("incomplete MIRAX slide: scan/Data0001.dat")
    ):
        scan(root)
    root = _mirax(tmp_path / "extra")
    (root / "scan" / "Data0002.dat").write_bytes(b"")
    with pytest.raises(InconsistentSetError, match=re.escape("scan/Data0002.dat is not part of")):
        scan(root)
    root = _mirax(tmp_path / "noini")
    (root / "scan" / "Slidedat.ini").unlink()
    with pytest.raises(InconsistentSetError, match=re.escape("Slidedat.ini is missing")):
        scan(root)
    root = _mirax(tmp_path / "escape")
    ini = root / "scan" / "Slidedat.ini"
    ini.write_text(ini.read_text().replace("FILE_1=Data0001.dat", "FILE_1=../../etc/passwd"))
    with pytest.raises(InconsistentSetError, match="names a file we do not accept"):
        scan(root)


def test_hostile_folders_are_refused(dicom_series: Path, tmp_path: Path) -> None:
    os.symlink("/etc/passwd", dicom_series / "IM0005.dcm")
    with pytest.raises(InconsistentSetError, match="a link"):
        scan(dicom_series)
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / ".hidden").write_bytes(b"x")
    with pytest.raises(InconsistentSetError, match="characters"):
        scan(odd)
    deep = tmp_path / "deep" / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "c.dcm").write_bytes(b"x")
    with pytest.raises(InconsistentSetError, match="not a file name"):
        scan(tmp_path / "deep")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SlideError, match="empty"):
        open_slide(tmp_path / "empty")


def test_a_mirax_slide_is_one_slide(mirax_folder: Path, tmp_path: Path) -> None:
    folder = scan(mirax_folder)
    assert folder.kind == "mirax" and len(folder.files) == 5
    with open_slide(mirax_folder) as slide:
        info = slide.info
        assert info.vendor == "mirax" and (info.width, info.height) == (1536, 1024)
        assert [lv.downsample for lv in info.levels] == [1.0, 2.0, 4.0]
        assert info.mpp_x == pytest.approx(0.25) and info.objective_power == 20
        expected = tissue(1536, 1024, seed=31)[:256, :256].astype(int)
        read = slide.read_rgb((0, 0), 0, (256, 256)).astype(int)
        assert abs(read - expected).mean() < 12  # JPEG at quality 90 of a noisy texture
    result = build_pyramid(mirax_folder, tmp_path / "out", processes=1)
    assert 'Width="1536"' in result.path.read_text()


def test_a_mirax_slide_missing_a_data_file_is_refused(mirax_folder: Path) -> None:
    (mirax_folder / "scan" / "Data0001.dat").unlink()
    with pytest.raises(InconsistentSetError, match=re.escape("scan/Data0001.dat is missing")):
        open_slide(mirax_folder)
