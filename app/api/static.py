"""The browser's files: our pages' scripts under `/static/`, npm packages under `/static/vendor/`.

Only the built files of each npm package are mounted, never `node_modules` as a
whole (it holds package sources, lock files and READMEs nobody should fetch).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).resolve().parents[2] / "static"
NODE_MODULES = STATIC / "node_modules"
#: URL name -> the directory of an npm package's built files.
VENDOR = {
    "tus": NODE_MODULES / "tus-js-client" / "dist",
    "openseadragon": NODE_MODULES / "openseadragon" / "build" / "openseadragon",
    # The API documentation pages (/docs, /redoc: app.api.pages.docs).
    "swagger-ui": NODE_MODULES / "swagger-ui-dist",
    "redoc": NODE_MODULES / "redoc" / "bundles",
}


class OwnStaticFiles(StaticFiles):
    """`static/` without `node_modules/` and without the npm manifests."""

    _HIDDEN = ("node_modules", "package.json", "package-lock.json")

    def get_path(self, scope: Scope) -> str:
        path = super().get_path(scope)
        if path.split("/", 1)[0] in self._HIDDEN:
            return "/nonexistent"  # answered as any unknown file: 404
        return path


def mount_static(app: FastAPI) -> None:
    for name, directory in VENDOR.items():
        if directory.is_dir():  # before `make` has run npm, only the vendor files are missing
            app.mount(f"/static/vendor/{name}", StaticFiles(directory=directory), name=name)
    app.mount("/static", OwnStaticFiles(directory=STATIC), name="static")
