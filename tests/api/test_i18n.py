"""The users' languages over HTTP: the catalog the pages load, each user's own choice,
the hub's own sentences (error details, the sign-in and setup forms) in the reader's
language, and English for everyone who asks for nothing else."""

from __future__ import annotations

import pickle
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.core.config import Settings
from app.core.db import Database
from app.core.i18n import N_, Message, gettext, negotiate, translate
from app.models.audit import AuditEvent
from tests.browser import serve_asgi
from tests.cases.conftest import REQUEST, create_case
from tests.conftest import SLIDES, World

ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"),
        ("zh-Hans", "zh-Hans"),
        ("zh-TW", "zh-Hans"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR, zh;q=0.5, en;q=0.4", "zh-Hans"),
        ("en;q=0.3, zh;q=0.8", "zh-Hans"),
        ("fr, de", "en"),
        ("zh;q=0", "en"),
        ("", "en"),
        (None, "en"),
        ("zh;q=abc, en", "en"),
    ],
)
def test_negotiate(header: str | None, language: str) -> None:
    assert negotiate(header) == language


def test_a_message_keeps_its_msgid_and_says_itself_again() -> None:
    message = N_("no such language: {language}", language="fr")
    assert message == "no such language: fr"  # English where nobody asks for more
    assert translate(message, "zh-Hans") == "不支持的语言：fr"
    assert translate("wrong user name or password", "zh-Hans") == "用户名或密码错误"
    assert translate("a sentence nobody translated", "zh-Hans") == "a sentence nobody translated"
    assert gettext("zh-Hans", "{day} {mon} {year}", day=2, mon="Mar", month=3, year=1968) == (
        "1968年3月2日"
    )
    # Parameters are data: never read as format fields of the catalog's text.
    assert str(N_("no such language: {language}", language="{0.__class__}")).endswith(
        "{0.__class__}"
    )
    # A parameter that is a Message is said in the language too; a plain one is data.
    nested = N_(
        "the body is larger than the {size} {name} may have", size="8 MiB", name=N_("an upload")
    )
    assert translate(nested, "zh-Hans") == "请求体超过了一次上传允许的 8 MiB"
    plain = N_("no such language: {language}", language="token expired")
    assert translate(plain, "zh-Hans") == "不支持的语言：token expired"
    copied = pickle.loads(pickle.dumps(message))  # an error crossing a process boundary
    assert isinstance(copied, Message) and translate(copied, "zh-Hans") == "不支持的语言：fr"


def test_the_catalog_follows_the_browser_signed_out(client: TestClient) -> None:
    english = client.get("/api/i18n").json()
    assert english["language"] == "en" and english["messages"] == {}
    assert english["languages"] == {"en": "English", "zh-Hans": "简体中文"}
    chinese = client.get("/api/i18n", headers=ZH).json()
    assert chinese["language"] == "zh-Hans"
    assert chinese["messages"]["malignant"] == "恶性"


def test_a_users_language_overrides_the_browsers(
    client: TestClient, world: World, db: Database
) -> None:
    auth = world.auth("surgeon_north")
    assert client.get("/api/users/me", headers=auth).json()["language"] is None
    response = client.put("/api/users/me/language", json={"language": "zh-Hans"}, headers=auth)
    assert response.status_code == 200 and response.json()["language"] == "zh-Hans"
    english_browser = {**auth, "Accept-Language": "en-US"}
    assert client.get("/api/i18n", headers=english_browser).json()["language"] == "zh-Hans"
    # The hub's own sentences too: a refusal a page shows.
    forbidden = client.post("/api/slides", headers=english_browser, files={"file": ("a", b"x")})
    assert forbidden.status_code == 403
    assert forbidden.json()["detail"] == "外科医生阅览切片；由技术员和病理医生添加切片"
    # Back to the browser's language.
    response = client.put("/api/users/me/language", json={"language": None}, headers=auth)
    assert response.json()["language"] is None
    assert client.get("/api/i18n", headers=english_browser).json()["language"] == "en"
    with db.read() as session:
        actions = session.exec(
            select(AuditEvent.action).where(AuditEvent.action == "user.language")
        ).all()
    assert len(actions) == 2


def test_an_unknown_language_is_refused_in_the_readers_language(
    client: TestClient, world: World
) -> None:
    auth = world.auth("tech_north")
    response = client.put("/api/users/me/language", json={"language": "fr"}, headers=auth)
    assert response.status_code == 422 and response.json()["detail"] == "no such language: fr"
    response = client.put("/api/users/me/language", json={"language": "fr"}, headers={**auth, **ZH})
    assert response.json()["detail"] == "不支持的语言：fr"


def test_case_refusals_in_chinese(client: TestClient, world: World) -> None:
    case = create_case(client, world)
    response = client.post(
        f"/api/cases/{case['id']}/claim", headers={**world.auth("path_north"), **ZH}
    )
    assert response.status_code == 409
    assert response.json()["detail"] == "该病例的切片尚未就绪"


def test_sign_in_form_in_the_browsers_language(client: TestClient, world: World) -> None:
    page = client.get("/login", headers=ZH).text
    assert '<html lang="zh-Hans">' in page and "用户名" in page and ">登录</button>" in page
    assert 'href="?next=%2F&amp;lang=en"' in page  # the way back to English
    english = client.get("/login?lang=en", headers=ZH).text
    assert ">Sign in</button>" in english and '<html lang="en">' in english
    wrong = client.post(
        "/login",
        data={"username": "tech_north", "password": "not the password", "lang": "zh-Hans"},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text


def test_a_language_chosen_at_sign_in_stays(client: TestClient, world: World) -> None:
    from tests.conftest import PASSWORD

    response = client.post(
        "/login",
        data={"username": "tech_north", "password": PASSWORD, "lang": "zh-Hans"},
        headers={"Origin": "http://testserver", "Accept-Language": "en"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert client.cookies.get("slidebridge_language") == "zh-Hans"
    catalog = client.get("/api/i18n", headers={"Accept-Language": "en"}).json()
    assert catalog["language"] == "zh-Hans"


def test_validation_reasons_in_the_readers_language(client: TestClient, world: World) -> None:
    """FastAPI's 422 list keeps its shape; `msg` is said in the reader's language."""
    body = {"type": "frozen_section", "patient_name": "王秀英", "patient_mrn": "x" * 65}
    english = client.post("/api/cases", json=body, headers=world.auth("tech_north"))
    chinese = client.post("/api/cases", json=body, headers={**world.auth("tech_north"), **ZH})
    assert english.status_code == chinese.status_code == 422
    said = {item["loc"][-1]: item["msg"] for item in chinese.json()["detail"]}
    assert said["patient_mrn"] == "最多 64 个字符"
    assert said["specimen_site"] == "必填"
    assert [item["loc"] for item in english.json()["detail"]] == [
        item["loc"] for item in chinese.json()["detail"]
    ]
    assert "String should have at most 64 characters" in english.text  # pydantic's own words


def test_the_setup_page_in_chinese(client: TestClient) -> None:
    page = client.get("/setup?token=not-the-token", headers=ZH)
    assert page.status_code == 404 and "此设置链接已失效" in page.text


UNCLOSED = {
    "type": "Feature",
    "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [100, 0], [100, 100], [0, 100]]]},
    "properties": {"objectType": "annotation"},
}
#: Refusals from across the hub, each as (user, method, path, what is sent), with its
#: status and its words in English and in Chinese (the services' `N_` reasons).
REFUSALS = [
    ("path_north", "GET", f"/api/cases/{uuid.UUID(int=1)}", {}, 404, "no such case", "没有该病例"),
    (
        "surgeon_north",
        "POST",
        "/api/cases/{case}/claim",
        {},
        403,
        "pathologists claim cases",
        "由病理医生认领病例",
    ),
    (
        "path_north",
        "POST",
        "/api/cases/{case}/claim",
        {},
        409,
        "the case's slides are not ready yet",
        "该病例的切片尚未就绪",
    ),
    (
        "tech_north",
        "POST",
        "/api/uploads",
        {"headers": {"Tus-Resumable": "1.0.0", "Upload-Length": str(10**15)}},
        413,
        "file is larger than {max_bytes} bytes",
        "文件超过 {max_bytes} 字节",
    ),
    (
        "tech_north",
        "POST",
        "/api/uploads",
        {"headers": {"Tus-Resumable": "0.2.2", "Upload-Length": "10"}},
        412,
        "Tus-Resumable must be 1.0.0",
        "Tus-Resumable 必须为 1.0.0",
    ),
    (
        "path_north",
        "GET",
        "/iiif/3/{slide}/bogus/max/0/default.jpg",
        {},
        400,
        "bad IIIF region 'bogus': full, square, x,y,w,h or pct:",
        "IIIF 区域 'bogus' 无效：应为 full、square、x,y,w,h 或 pct:",
    ),
    (
        "tech_north",
        "POST",
        "/api/slides/sets",
        {"files": [("file", ("IM0001.dcm", b"x"))]},
        422,
        "send the 'manifest' field before the files",
        "请在文件之前发送“manifest”字段",
    ),
    (
        "tech_north",
        "POST",
        "/api/slides/sets",
        {"files": [("manifest", (None, "{")), ("file", ("IM0001.dcm", b"x"))]},
        422,
        "the manifest is not valid: ",
        "清单无效：",
    ),
    (  # the annotation package's reason, in a batch: the feature's number, then why
        "path_north",
        "POST",
        "/api/slides/{slide}/annotations",
        {"json": {"type": "FeatureCollection", "features": [UNCLOSED]}},
        422,
        "feature 0: polygon ring is not closed: last position must equal first",
        "第 0 个要素：多边形的环未闭合：最后一个坐标点必须与第一个相同",
    ),
    (  # the slide engine's reason (`tiler.reasons`), said by the service
        "tech_north",
        "POST",
        "/api/slides",
        {"files": {"file": ("broken.svs", (SLIDES / "broken" / "broken.svs").read_bytes())}},
        422,
        "broken.svs: not a whole-slide image",
        "broken.svs：不是可读取的全切片图像",
    ),
]


@pytest.mark.parametrize("language", ["en", "zh-Hans"])
def test_the_services_refusals_in_the_users_language(
    app: FastAPI,
    world: World,
    settings: Settings,
    north_slide: dict[str, Any],
    language: str,
) -> None:
    """Over real HTTP, each user's own language wins over the browser's, which asks for
    the other one: the case, upload, IIIF and slide-set refusals are said in it."""
    other = ZH if language == "en" else {"Accept-Language": "en-US,en;q=0.9"}
    with serve_asgi(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        for username in ("path_north", "surgeon_north", "tech_north"):
            chosen = http.put(
                "/api/users/me/language",
                json={"language": language},
                headers=world.auth(username),
            )
            assert chosen.status_code == 200, chosen.text
        case = http.post("/api/cases", json=REQUEST, headers=world.auth("tech_north")).json()
        names = {"case": case["id"], "slide": north_slide["id"]}
        for username, method, path, sent, status, english, chinese in REFUSALS:
            headers = {**world.auth(username), **other, **sent.get("headers", {})}
            response = http.request(
                method,
                path.format(**names),
                headers=headers,
                files=sent.get("files"),
                json=sent.get("json"),
            )
            assert response.status_code == status, (path, response.text)
            words = (english if language == "en" else chinese).format(
                max_bytes=settings.max_upload_bytes
            )
            assert response.json()["detail"].startswith(words), (path, response.text)
