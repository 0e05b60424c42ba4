"""A folder that holds one slide of several files: which files it is, and whether they
are all there and all of one slide.

Two formats spread a slide over files: a DICOM WSI series (a file per level, plus
label and overview) and MIRAX (`NAME.mrxs` beside a folder `NAME/` with `Slidedat.ini`,
the index and the data files it names). OpenSlide reads either from one file (the
`.mrxs`, or any file of the series); this module says which, and refuses a folder
that is incomplete (a data file Slidedat.ini names is missing) or inconsistent (files
of two series, a file that belongs to no slide, two files for one level) with the
reason, before anything is stored. A folder holding exactly one file is that file.

Names are checked as untrusted input: only plain files (no links, devices, or
hidden entries), at most two levels deep, each name from a small character set.
"""

from __future__ import annotations

import configparser
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tiler.dicom_slide import DicomIdentity, dicom_identity
from tiler.errors import BrokenSlideError, SlideBridgeError, SlideError, UnsupportedFormatError
from tiler.reasons import N_

#: Files one slide may have (a MIRAX slide has a data file per ~100 MB).
MAX_FILES = 4096
#: A name part: what scanners write, nothing a file system or shell reads specially.
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+\- ]{0,127}")
_SLIDEDAT_BYTES = 1 << 20
_DICM_AT = 128


class InconsistentSetError(BrokenSlideError):
    """Files sent as one slide are not one complete slide (missing, extra, or mixed)."""


@dataclass(frozen=True)
class SlideFolder:
    root: Path
    kind: str  # "mirax", "dicom" or "file"
    #: The file OpenSlide opens.
    main: Path
    #: Every file of the slide, relative POSIX paths, sorted.
    files: tuple[str, ...]
    #: DICOM: how many files are pyramid levels (OpenSlide must read as many levels).
    level_files: int | None = None


def check_relative_name(name: str) -> PurePosixPath:
    """A client's or a folder's relative file name, if it is safe to use as one; else a
    typed error (`..`, absolute, hidden, odd characters, deeper than two levels)."""
    path = PurePosixPath(name)
    parts = path.parts
    if not 1 <= len(parts) <= 2 or path.is_absolute() or "\\" in name:
        raise InconsistentSetError(
            N_("{name}: not a file name inside one slide folder", name=repr(name[:80]))
        )
    for part in parts:
        if not NAME.fullmatch(part) or part in (".", ".."):
            raise InconsistentSetError(
                N_("{name}: a name with characters we do not accept", name=repr(name[:80]))
            )
    return path


def list_files(root: Path) -> list[str]:
    """Every file under `root`, checked as untrusted names; a typed error otherwise."""
    found: list[str] = []
    for directory, subdirs, names in os.walk(root, followlinks=False):
        here = Path(directory)
        for name in subdirs + names:
            entry = here / name
            relative = entry.relative_to(root).as_posix()
            check_relative_name(relative)
            if entry.is_symlink():
                raise InconsistentSetError(N_("{relative}: a link, not a file", relative=relative))
            if name in subdirs:
                continue
            if not entry.is_file():
                raise InconsistentSetError(N_("{relative}: not a regular file", relative=relative))
            found.append(relative)
            if len(found) > MAX_FILES:
                raise InconsistentSetError(
                    N_("more than {count} files in one slide folder", count=MAX_FILES)
                )
    return sorted(found)


def scan(root: str | os.PathLike[str]) -> SlideFolder:
    """Which slide the folder holds and its files, or a typed SlideError with the reason."""
    root = Path(root)
    if not root.is_dir():
        raise SlideError(N_("not a folder: {name}", name=root.name), path=str(root))
    files = list_files(root)
    if not files:
        raise UnsupportedFormatError(N_("{name}: an empty folder", name=root.name), path=str(root))
    mirax = [f for f in files if "/" not in f and f.lower().endswith(".mrxs")]
    if mirax:
        return _mirax(root, files, mirax)
    if all(_is_dicom(root / f) for f in files):
        return _dicom(root, files)
    if len(files) == 1:
        return SlideFolder(root, "file", root / files[0], tuple(files))
    raise UnsupportedFormatError(
        N_(
            "{name}: a folder must hold one slide: a .mrxs file with its folder, "
            "the files of one DICOM series, or a single slide file",
            name=root.name,
        ),
        path=str(root),
    )


def _is_dicom(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(_DICM_AT)
        return handle.read(4) == b"DICM"


def _mirax(root: Path, files: list[str], mrxs: list[str]) -> SlideFolder:
    if len(mrxs) > 1:
        raise InconsistentSetError(
            N_("{name}: {count} .mrxs files: one slide at a time", name=root.name, count=len(mrxs))
        )
    stem = mrxs[0][: -len(".mrxs")]
    slidedat = f"{stem}/Slidedat.ini"
    if slidedat not in files:
        raise InconsistentSetError(N_("incomplete MIRAX slide: {name} is missing", name=slidedat))
    needed = {mrxs[0], slidedat} | {f"{stem}/{name}" for name in _mirax_data_files(root / slidedat)}
    missing = sorted(needed - set(files))
    if missing:
        if len(missing) == 1:
            raise InconsistentSetError(
                N_("incomplete MIRAX slide: {name} is missing", name=missing[0])
            )
        raise InconsistentSetError(
            N_(
                "incomplete MIRAX slide: {name} is missing and {count} more",
                name=missing[0],
                count=len(missing) - 1,
            )
        )
    extra = sorted(set(files) - needed)
    if extra:
        raise InconsistentSetError(
            N_("{name} is not part of the MIRAX slide {slide}", name=extra[0], slide=mrxs[0])
        )
    return SlideFolder(root, "mirax", root / mrxs[0], tuple(files))


def _mirax_data_files(slidedat: Path) -> list[str]:
    """The index and data files Slidedat.ini names (OpenSlide's mirax reader opens these)."""
    if slidedat.stat().st_size > _SLIDEDAT_BYTES:
        raise InconsistentSetError(N_("Slidedat.ini is larger than any scanner writes"))
    raw = slidedat.read_bytes()
    text = raw.decode("utf-8-sig", errors="replace")
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys as written
    try:
        parser.read_string(text)
        index = parser.get("HIERARCHICAL", "INDEXFILE")
        count = int(parser.get("DATAFILE", "FILE_COUNT"))
        if not 0 < count <= MAX_FILES:
            raise ValueError(f"FILE_COUNT {count}")
        names = [index] + [parser.get("DATAFILE", f"FILE_{i}") for i in range(count)]
    except (configparser.Error, ValueError) as error:
        reason = " ".join(str(error).split())[:200]
        raise InconsistentSetError(
            N_("Slidedat.ini does not list the slide's files: {reason}", reason=reason)
        ) from error
    for name in names:
        if "/" in name or not NAME.fullmatch(name):
            raise InconsistentSetError(
                N_("Slidedat.ini names a file we do not accept: {name}", name=repr(name[:80]))
            )
    return names


def _identity(path: Path) -> DicomIdentity:
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size

        def read_at(offset: int, length: int) -> bytes:
            if offset < 0 or length < 0 or offset + length > size:
                raise BrokenSlideError(f"read of bytes {offset}+{length} beyond the file's end")
            return os.pread(fd, length, offset)

        return dicom_identity(read_at, size)
    except SlideBridgeError as error:
        raise InconsistentSetError(
            N_("{name}: {reason}", name=path.name, reason=error.reason)
        ) from error
    finally:
        os.close(fd)


def _dicom(root: Path, files: list[str]) -> SlideFolder:
    if any("/" in f for f in files):
        raise InconsistentSetError(N_("a DICOM series is a flat folder of files"))
    identities = {f: _identity(root / f) for f in files}
    series = {i.series for i in identities.values()}
    if len(series) > 1:
        raise InconsistentSetError(
            N_("files of {count} DICOM series: one slide at a time", count=len(series))
        )
    volumes = {f: i for f, i in identities.items() if i.flavor == "VOLUME"}
    if not volumes:
        raise InconsistentSetError(N_("no pyramid level among the DICOM files (labels only)"))
    sizes: dict[tuple[int, int], str] = {}
    for name, identity in sorted(volumes.items()):
        size = (identity.width, identity.height)
        if size in sizes:
            raise InconsistentSetError(
                N_(
                    "{first} and {second} are both the {width}x{height} level",
                    first=sizes[size],
                    second=name,
                    width=size[0],
                    height=size[1],
                )
            )
        sizes[size] = name
    # OpenSlide finds the series from any of its files; the full resolution reads first.
    main = max(volumes, key=lambda f: volumes[f].width * volumes[f].height)
    return SlideFolder(root, "dicom", root / main, tuple(files), len(volumes))
