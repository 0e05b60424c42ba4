from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core.config import Settings
from app.main import create_app
from tests.browser import serve_asgi
from tests.conftest import World


@pytest.fixture
def live(settings: Settings, world: World) -> Iterator[str]:
    """The app over real HTTP (uvicorn on loopback) with its pyramid workers."""
    app = create_app(settings, run_workers=True, migrate=False)
    with serve_asgi(app) as base:
        yield base
