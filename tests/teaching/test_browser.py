"""Teaching in Chromium: a pathologist makes a collection from a reported case, a trainee
answers it and sees the expert beside their answer, the teacher sees the class; then a
conference with the teacher and three trainees in four browser contexts: everyone
follows the teacher's pans, a trainee raises a hand and gets the pointer, the room
follows them, the teacher ends it and the walkthrough replays. Screenshots of every
page go to /tmp/teaching_*.png."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, Page

from app.core.config import Settings
from app.core.security import hash_password
from app.main import create_app
from app.models.accounts import Role, Site, TokenKind, UserCreate
from app.services import accounts as crud
from tests.browser import serve_asgi
from tests.cases.test_browser import login
from tests.conftest import PASSWORD, SECRET, World
from tests.teaching.conftest import reported_case

pytestmark = pytest.mark.browser
TRAINEES = ("trainee1", "trainee2", "trainee3")


@pytest.fixture
def teaching_app(tmp_path: Path) -> Iterator[tuple[FastAPI, World, dict[str, Any]]]:
    settings = Settings(
        environment="test",
        secret_key=SECRET,
        data_dir=tmp_path / "data",
        cookie_secure=False,
        build_processes=1,
        embedded_workers=1,
        job_poll_seconds=0.2,
    )
    app = create_app(settings)
    world = World()
    with TestClient(
        app, base_url="https://testserver", headers={"Origin": "https://testserver"}
    ) as client:
        with app.state.db.write() as session:
            site = Site(code="NORTH", name="North Island Hospital")
            session.add(site)
            session.flush()
            digest = hash_password(PASSWORD)
            people = {
                "tech_north": (Role.technician, "NORTH", []),
                "path_north": (Role.pathologist, None, ["NORTH"]),
            }
            people |= {name: (Role.trainee, None, []) for name in TRAINEES}
            for username, (role, code, covers) in people.items():
                data = UserCreate(
                    username=username, role=role, site=code, covers=covers, password=PASSWORD
                )
                user = crud.create_user(session, data, password_hash=digest)
                world.tokens[username], _ = crud.issue_token(
                    session, user, TokenKind.bearer, timedelta(minutes=30), SECRET
                )
        case, _ = reported_case(client, world)
    yield app, world, case


def shot(page: Page, name: str) -> None:
    page.screenshot(path=f"/tmp/teaching_{name}.png", full_page=True)


def center(page: Page) -> list[float]:
    """Where the page's view is going (OpenSeadragon's target, not the animation's
    current frame: on a loaded machine the spring may still be moving when asked)."""
    value: list[float] = page.evaluate(
        "(() => { const v = window.slidebridgeConference.view.viewer.viewport;"
        " const c = v.viewportToImageCoordinates(v.getCenter(false)); return [c.x, c.y]; })()"
    )
    return value


def drag(page: Page, dx: int, dy: int) -> None:
    box = page.locator("#stage").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(x + dx * step / 10, y + dy * step / 10)
    page.mouse.up()


def follows(page: Page, target: list[float]) -> None:
    page.wait_for_function(
        "([x, y]) => { const v = window.slidebridgeConference?.view.viewer?.viewport;"
        " if (!v) return false;"
        " const c = v.viewportToImageCoordinates(v.getCenter(true));"
        " return Math.abs(c.x - x) < 2 && Math.abs(c.y - y) < 2; }",
        arg=target,
        timeout=15000,
    )


def test_collection_self_assessment_and_conference(
    browser: Browser, teaching_app: tuple[FastAPI, World, dict[str, Any]]
) -> None:
    app, _, case = teaching_app
    errors: list[str] = []
    contexts: list[BrowserContext] = []
    with serve_asgi(app) as base:
        teacher_ctx, teacher = login(browser, base, "path_north")
        contexts.append(teacher_ctx)
        teacher.on("pageerror", lambda error: errors.append(str(error)))
        teacher.goto(f"{base}/teaching")
        teacher.wait_for_selector("#create:not([hidden])")
        teacher.fill("[name=name]", "Breast frozen sections")
        teacher.click("#create button[type=submit]")
        teacher.wait_for_url("**/teaching/collections/*")
        teacher.wait_for_selector("#add:not([hidden])")
        teacher.fill("#add [name=case]", case["id"])
        teacher.click("#add button[type=submit]")
        teacher.wait_for_selector("[data-item]")
        assert "Expert: malignant" in teacher.inner_text("#items")
        shot(teacher, "collection_teacher_empty_class")

        # A trainee: the collection, the case, an answer, the expert beside it.
        trainee_ctx, trainee = login(browser, base, "trainee1")
        contexts.append(trainee_ctx)
        trainee.on("pageerror", lambda error: errors.append(str(error)))
        trainee.goto(f"{base}/")
        trainee.wait_for_url("**/teaching")
        trainee.wait_for_selector("#collections a")
        assert trainee.inner_text("#nav") == "Teaching"
        shot(trainee, "collections_trainee")
        trainee.click("#collections a")
        trainee.wait_for_selector("[data-item]")
        assert "Not answered yet" in trainee.inner_text("#items")
        assert "0 of 1 answered" in trainee.inner_text("#progress")
        trainee.click("[data-item]")
        trainee.wait_for_selector("#answer-form:not([hidden])")
        trainee.wait_for_selector("#osd canvas")
        assert trainee.locator("#compare").is_hidden()
        assert trainee.eval_on_selector("#expert", "e => e.textContent") == ""
        shot(trainee, "case_before_answer")
        trainee.select_option("[name=category]", "atypical")
        trainee.fill("[name=text]", "Atypical ductal proliferation; defer to permanent sections.")
        trainee.click("#answer-form button[type=submit]")
        trainee.wait_for_selector("#compare:not([hidden])")
        trainee.wait_for_function(
            "document.getElementById('annotation-note').textContent.includes('1 expert')"
        )
        assert "atypical / suspicious" in trainee.inner_text("#mine")
        assert "another category than the expert" in trainee.inner_text("#mine")
        assert "malignant" in trainee.inner_text("#expert")
        assert "[removed]" in trainee.inner_text("#expert")
        shot(trainee, "case_beside_expert")
        trainee.goto(f"{base}/teaching/collections/{teacher.url.rsplit('/', 1)[1]}")
        trainee.wait_for_selector("#progress:has-text('1 of 1 answered')")
        shot(trainee, "collection_trainee_progress")

        teacher.reload()
        teacher.wait_for_selector("#class-progress td:has-text('trainee1')")
        assert "atypical / suspicious" in teacher.inner_text("#class-answers")
        shot(teacher, "collection_teacher_class")

        # The conference: the teacher starts it, three trainees join.
        teacher.click("#start-conference button[type=submit]")
        teacher.wait_for_url("**/teaching/conferences/*")
        teacher.wait_for_selector("body[data-live=connected]")
        conference_url = teacher.url
        followers = [trainee]
        for name in TRAINEES[1:]:
            ctx, page = login(browser, base, name)
            contexts.append(ctx)
            page.on("pageerror", lambda error: errors.append(str(error)))
            followers.append(page)
        for page in followers:
            page.goto(conference_url)
            page.wait_for_selector("body[data-live=connected]")
        teacher.wait_for_selector("#participants li:nth-child(3)")
        teacher.wait_for_selector("#osd canvas")
        teacher.wait_for_timeout(500)  # OpenSeadragon's first frame
        drag(teacher, -200, -120)
        teacher.wait_for_timeout(600)
        target = center(teacher)
        for page in followers:
            follows(page, target)
            assert "following path_north" in page.inner_text("#state")
        shot(teacher, "conference_teacher")
        shot(followers[1], "conference_follower")

        # A hand goes up; the teacher hands over the pointer; the room follows trainee1.
        trainee.click("#hand")
        teacher.wait_for_selector("#participants li[data-user=trainee1] .hand")
        shot(teacher, "conference_hand_raised")
        teacher.click("#participants li[data-user=trainee1] button.give")
        trainee.wait_for_selector("body[data-presenting=true]")
        drag(trainee, 150, 90)
        trainee.wait_for_timeout(600)
        target = center(trainee)
        for page in (teacher, followers[1], followers[2]):
            follows(page, target)
        shot(trainee, "conference_trainee_presents")
        teacher.click("#take-back")
        teacher.wait_for_selector("body[data-presenting=true]")
        teacher.click("#end")
        for page in followers:
            page.wait_for_selector("#state:has-text('ended')")
        followers[2].click("#replay")
        followers[2].wait_for_selector("body[data-replayed]", timeout=120000)
        steps = int(followers[2].get_attribute("body", "data-replayed") or 0)
        assert steps >= 2
        shot(followers[2], "conference_replayed")
        for context in contexts:
            context.close()
    assert not errors, errors
