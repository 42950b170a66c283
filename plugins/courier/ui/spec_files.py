"""The file server of the spec pages: ``/courier/ui/specs/{run_id}/files/{path}`` serves a file of a spec run's
folder (its report.html, junit.xml, ctrf.json, a cell's screenshots and logs), shown and never run.

Security-sensitive, so on its own, and every rule it follows is :mod:`courier.api.served_files`'s: the run id
must be one Airflow accepts (never ``.`` or ``..``) and the path is checked part by part (no empty, ``.`` or
``..`` part, no NUL, not absolute) before either is joined to the spec runs' folder; every answer carries
:data:`~courier.api.served_files.ARTIFACT_HEADERS` (a sandboxing ``Content-Security-Policy``, ``nosniff``,
``no-store``), and a file of no known type is an attachment. The router is included behind ``access("specs")``,
as the spec pages are (:mod:`courier.ui.views`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from courier.api.auth import Who
from courier.api.errors import ApiError
from courier.api.served_files import ARTIFACT_HEADERS, file_parts_or_404, run_id_or_404
from courier.specs.report import run_folder
from courier.specs.store import SpecQueue
from courier.ui.screens.common import User, page_router

router = page_router()

SERVED_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                ".webp": "image/webp", ".html": "text/html; charset=utf-8", ".json": "application/json",
                ".xml": "application/xml", ".txt": "text/plain; charset=utf-8", ".log": "text/plain; charset=utf-8"}  # fmt: skip
"""The media types served inline; any other file is sent as ``application/octet-stream``, an attachment."""


@router.get("/specs/{run_id}/files/{path:path}")
def spec_file(request: Request, user: User, who: Who, run_id: str, path: str) -> Response:
    """A file of a run's folder (its report.html, junit.xml, ctrf.json, a cell's screenshots and logs); 404 for
    a run the user did not trigger, unless they have full access."""
    parts = file_parts_or_404(path)
    folder = run_folder(run_id_or_404(run_id))
    if who.scope is not None and SpecQueue().get_run(run_id, who.scope) is None:
        raise ApiError(404, f"run {run_id!r} has no file {path!r}", loc=("path", "path"))
    target = folder / "/".join(parts)
    if not target.is_file():
        raise ApiError(404, f"run {run_id!r} has no file {path!r}", loc=("path", "path"))
    media = SERVED_TYPES.get(PurePosixPath(path).suffix.lower(), "application/octet-stream")
    headers = dict(ARTIFACT_HEADERS)
    if media == "application/octet-stream":
        headers["Content-Disposition"] = f'attachment; filename="{quote(parts[-1])}"'

    def chunks() -> Iterator[bytes]:
        with target.open("rb") as stream:  # type: ignore[no-untyped-call]
            while chunk := stream.read(256 * 1024):
                yield chunk

    return StreamingResponse(chunks(), media_type=media, headers=headers)
