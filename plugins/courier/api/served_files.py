"""What every Courier route that serves a stored file checks and sends.

Files come from outside Courier's control (a spec run's report and screenshots, a processor's report, a
pushed file), yet are served on the Airflow origin. So:

* names are checked against strict patterns before any path is built (:func:`run_id_or_404`,
  :func:`file_parts_or_404`): a run id is what Airflow accepts as one, never ``.`` or ``..``;
* every answer carries ``X-Content-Type-Options: nosniff`` and a ``Content-Security-Policy`` whose
  ``sandbox`` gives the document an opaque origin (no script, no forms, no navigating Airflow's window)
  and whose ``default-src 'none'`` loads nothing. The spec report (``courier.specs.report``) needs only its
  inline ``<style>``; its links to the run's other files are plain navigations, which stay allowed.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from courier.api.errors import ApiError

RUN_ID_RE = re.compile(r"[A-Za-z0-9_~:+-][A-Za-z0-9_.~:+-]{0,249}")
"""Airflow's ``[scheduler] allowed_run_id_pattern`` (``^[A-Za-z0-9_.~:+-]+$``), at most 250 characters, not
starting with a dot (so never ``.`` or ``..``)."""

NOSNIFF = {"X-Content-Type-Options": "nosniff"}

DOWNLOAD_HEADERS = {
    **NOSNIFF,
    "Content-Security-Policy": "sandbox; default-src 'none'; form-action 'none'; base-uri 'none'",
    "Cache-Control": "no-store",
}
"""For API file answers (a job's report, a signed pushed file): data, never a document."""

ARTIFACT_HEADERS = {
    **NOSNIFF,
    # frame-ancestors 'self': the Courier pages (and so the files they link) open inside Airflow's iframe.
    "Content-Security-Policy": "sandbox; default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'",
    "Cache-Control": "no-store",
}
"""For a spec run's files: shown, never run."""


def run_id_or_404(run_id: str) -> str:
    """Return ``run_id`` if it can be a run id, else raise a 404 naming it."""
    if not RUN_ID_RE.fullmatch(run_id):
        raise ApiError(404, f"no run {run_id!r}: not a run id", loc=("path", "run_id"))
    return run_id


def file_parts_or_404(path: str) -> tuple[str, ...]:
    """Return the parts of a clean relative ``path`` (no ``..``, ``.``, ``//``, leading ``/`` or NUL), else 404."""
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in path:
        raise ApiError(404, "no such file", loc=("path", "path"))
    return parts
