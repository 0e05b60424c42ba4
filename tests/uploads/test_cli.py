"""`slidebridge upload` and `slidebridge watch` as a technician runs them, against a live hub."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from app.agent.watch import WatchState, scan
from tests.conftest import SLIDES, SMALL_SVS, TINY_SVS, World
from tests.tiler.slide_files import dicom_series as write_series

SLIDEBRIDGE = Path(sys.executable).parent / "slidebridge"


def _run(
    world: World, *args: str, user: str = "tech_north", locale: str = "C.UTF-8"
) -> subprocess.CompletedProcess[str]:
    """The command in the POSIX locale `locale` (the language it speaks and asks for)."""
    env = {
        **os.environ,
        "SLIDEBRIDGE_TOKEN": world.tokens[user],
        "COLUMNS": "120",
        **{name: "" for name in ("SLIDEBRIDGE_LANGUAGE", "LANGUAGE", "LC_ALL", "LC_MESSAGES")},
        "LANG": locale,
    }
    return subprocess.run(
        [str(SLIDEBRIDGE), *args], env=env, capture_output=True, text=True, timeout=120
    )


def _uploads(live: str, world: World) -> int:
    response = httpx.get(f"{live}/api/slides", headers=world.auth("admin"))
    total: int = response.json()["total"]
    return total


def test_upload_command_sends_files_and_reports_refusals(
    live: str, world: World, tmp_path: Path
) -> None:
    done = _run(world, "upload", str(SMALL_SVS), str(SLIDES / "broken" / "broken.svs"),
                "--server", live, "--state-dir", str(tmp_path / "state"))  # fmt: skip
    assert done.returncode == 1, done.stderr  # one of the two was refused
    assert "CMU-1-Small-Region.svs: slide " in done.stdout
    assert "refused" in done.stdout and "broken.svs" in done.stdout
    assert _uploads(live, world) == 1
    again = _run(world, "upload", str(SMALL_SVS), "--server", live,
                 "--state-dir", str(tmp_path / "state"), "--site", "NORTH")  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert _uploads(live, world) == 1  # same content, same site: the same slide


def test_the_commands_speak_the_technicians_language(
    live: str, world: World, tmp_path: Path
) -> None:
    """A Chinese locale: the command's own words in Chinese, and the hub (asked with
    Accept-Language) gives its reasons in Chinese too."""
    state = ["--server", live, "--state-dir", str(tmp_path / "state")]
    done = _run(world, "upload", str(SMALL_SVS), *state)
    assert done.returncode == 0 and ": slide " in done.stdout  # the C locale: English
    chinese = _run(world, "upload", str(TINY_SVS), *state, locale="zh_CN.UTF-8")
    assert chinese.returncode == 0, chinese.stdout + chinese.stderr
    assert "small.svs: 切片 " in chinese.stdout, chinese.stdout
    case = "00000000-0000-0000-0000-000000000000"
    refused = _run(world, "upload", str(TINY_SVS), *state, "--case", case, locale="zh_TW")
    assert refused.returncode == 1
    assert "已拒绝" in refused.stdout and "上传所在站点没有该病例" in refused.stdout, refused.stdout


def test_watch_sends_settled_files_once_in_order_of_arrival(
    live: str, world: World, tmp_path: Path
) -> None:
    scanner = tmp_path / "scanner"
    scanner.mkdir()
    shutil.copy(SMALL_SVS, scanner / "first.svs")
    shutil.copy(TINY_SVS, scanner / "second.svs")
    (scanner / "third.svs.tmp").write_bytes(b"still being written")
    mirax = scanner / "slide"
    mirax.mkdir()
    (mirax / "Data0000.dat").write_bytes(b"x")
    (scanner / "slide.mrxs").write_bytes(b"[GENERAL]")
    write_series(scanner / "series")  # a DICOM series: one slide of four files
    state = tmp_path / "state"
    args = ["watch", str(scanner), "--server", live, "--site", "NORTH", "--state-dir",
            str(state), "--settle", "0.3", "--interval", "0.2", "--once"]  # fmt: skip
    first = _run(world, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.index("first.svs: slide") < first.stdout.index("second.svs: slide")
    assert "series: slide " in first.stdout
    # An incomplete MIRAX slide is refused with the hub's reason, and not sent again.
    assert "incomplete MIRAX slide: slide/Slidedat.ini is missing" in first.stderr
    assert _uploads(live, world) == 3
    log = json.loads((state / "watch-NORTH.json").read_text())["sent"]
    assert set(log) == {"first.svs", "second.svs", "series", "slide.mrxs"}
    assert "refused" in log["slide.mrxs"] and "slide_id" in log["series"]
    # A restart sends nothing again.
    second = _run(world, *args)
    assert second.returncode == 0 and "slide " not in second.stdout
    uploads = httpx.get(f"{live}/api/slides", headers=world.auth("admin")).json()["items"]
    assert len(uploads) == 3
    series = next(u for u in uploads if u["name"] == "series")
    assert (series["vendor"], len(series["levels"])) == ("dicom", 3)


def test_upload_and_send_a_folder_as_one_slide(live: str, world: World, tmp_path: Path) -> None:
    folder = write_series(tmp_path / "series")
    done = _run(world, "upload", str(folder), "--server", live, "--site", "NORTH",
                "--state-dir", str(tmp_path / "state"))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "series: slide " in done.stdout and _uploads(live, world) == 1
    again = _run(world, "send", str(folder), "--server", live, "--site", "NORTH",
                 "--state-dir", str(tmp_path / "state"))  # fmt: skip
    assert again.returncode == 0 and _uploads(live, world) == 1  # the same slide
    (folder / "IM0002.dcm").write_bytes(b"\0" * 128 + b"DICM")
    refused = _run(world, "upload", str(folder), "--server", live,
                   "--state-dir", str(tmp_path / "state"))  # fmt: skip
    assert refused.returncode == 1 and "refused" in refused.stdout
    assert "IM0002.dcm" in refused.stdout and _uploads(live, world) == 1


def test_scan_groups_mirax_with_its_folder_and_waits_for_files_to_settle(tmp_path: Path) -> None:
    (tmp_path / "a.svs").write_bytes(b"1")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.dat").write_bytes(b"2")
    (tmp_path / "b.mrxs").write_bytes(b"3")
    units = {unit.name: unit for unit in scan(tmp_path)}
    assert set(units) == {"a.svs", "b.mrxs"}
    assert len(units["b.mrxs"].files) == 2 and units["b.mrxs"].multi_file
    watch = WatchState(tmp_path / "state.json")
    assert watch.ready(list(units.values()), settle=5, now=0) == []
    assert watch.ready(list(units.values()), settle=5, now=4) == []
    (tmp_path / "a.svs").write_bytes(b"grown")  # still being written: the clock restarts
    units = {unit.name: unit for unit in scan(tmp_path)}
    ready = watch.ready(list(units.values()), settle=5, now=6)
    assert [unit.name for unit in ready] == ["b.mrxs"]
    assert [u.name for u in watch.ready(list(units.values()), settle=5, now=12)] == [
        "a.svs", "b.mrxs"
    ]  # fmt: skip
