"""Serves the built web UI: hashed assets cached forever, ``index.html`` never."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from zapdesk.errors import NotFound

ASSETS = "/assets/"
# The browser app routes on the client, so any page path gets index.html, except the paths it
# never owns: those keep answering JSON errors.
_APP_PATHS = r"/{path:(?!api/|api$|internal/|assets/).*}"


def setup_webui(app: web.Application, dist: Path) -> None:
    index = dist / "index.html"

    async def page(request: web.Request) -> web.StreamResponse:
        if not index.is_file():
            raise NotFound("The web UI is not built yet: run `make up` (or `make webui`).")
        return web.FileResponse(index, headers={"Cache-Control": "no-cache"})

    async def cache_assets(request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith(ASSETS) and response.status == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"

    if (dist / "assets").is_dir():
        app.router.add_static(ASSETS, dist / "assets")
    app.on_response_prepare.append(cache_assets)
    app.router.add_get(_APP_PATHS, page)
