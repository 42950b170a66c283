"""The plan step of ``spec_matrix``: validate and expand the spec list, queue the cells, name the workers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from courier.params import ParamError, is_inside, local_storage_root, real_path, storage_param
from courier.specs.speclist import Problem, SpecListError, load
from courier.specs.store import SpecQueue

log = logging.getLogger(__name__)

SPEC_ROOT = Path("include/specs")
DEFAULT_SPEC_LIST = "include/specs/specs.json"
SITE_CONN_ID = "spec_site_default"
"""HTTP connection whose URL is ``COURIER_SPEC_BASE_URL`` when the run gives no ``base_url``."""
MAX_WORKERS = 64


@dataclass(frozen=True)
class SpecRunRequest:
    """The ``spec_matrix`` params, checked."""

    spec_list: str = DEFAULT_SPEC_LIST
    workers: int = 4
    base_url: str | None = None
    rerun_failed_of: str | None = None
    lease_seconds: float = 30.0
    storage_base: str | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> SpecRunRequest:
        workers = int(params.get("workers") or 4)
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers = {workers} is invalid: accepted values are 1 to {MAX_WORKERS}")
        return cls(
            spec_list=str(params.get("spec_list") or DEFAULT_SPEC_LIST),
            workers=workers,
            base_url=site_url(str(params["base_url"])) if params.get("base_url") else None,
            rerun_failed_of=params.get("rerun_failed_of") or None,
            lease_seconds=float(params.get("lease_seconds") or 30.0),
            storage_base=storage_param(params.get("storage_base")),
        )


def _project_folders() -> list[Path]:
    """The folder relative spec list paths (``include/specs/...``) are read from: the bundle's, which holds
    ``include/`` (the installed package, or the source tree; :mod:`courier.bundle`)."""
    from courier.bundle import project_folder

    return [project_folder()]


def spec_roots() -> list[Path]:
    """The real folders spec lists may come from: the bundle's ``include/specs/`` and ``[courier] spec_roots``
    (configuration; never derived from ``[core] dags_folder``)."""
    from courier.config import load_one

    roots: list[Path] = []
    for root in [*(f / SPEC_ROOT for f in _project_folders()), *(Path(r) for r in load_one("spec_roots"))]:
        real = real_path(root)
        if real.is_dir() and real not in roots:
            roots.append(real)
    return roots


def _refused(path: str, why: str, roots: list[Path]) -> SpecListError:
    named = ", ".join(str(r) for r in roots) or "none exists"
    return SpecListError(
        [
            Problem(
                None,
                "spec_list",
                f"{path!r} {why}; a spec list is code, only files under the spec roots ({named}) run: "
                "deploy it there or add its folder to [courier] spec_roots",
            )
        ]
    )


def resolve_spec_list(path: str) -> Path:
    """Return the real path of the spec list file, which must lie under a spec root (:func:`spec_roots`).

    Relative paths are relative to the bundle's project folder (where ``include/`` lives, :mod:`courier.bundle`).
    Links are resolved first, so a link inside a root leading out of it is refused, and so is a file in
    Courier's local storage — ``[courier] storage_base`` and every base of ``run_storage_bases`` (uploads and
    run outputs are never spec lists). Raise :class:`SpecListError` naming the roots.
    """
    from courier.config import load_one

    roots = spec_roots()
    given = Path(path)
    candidates = [given] if given.is_absolute() else [folder / given for folder in _project_folders()]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise _refused(path, "is not a file", roots)
    real = real_path(found)
    if not any(is_inside(real, root) for root in roots):
        raise _refused(
            path, f"resolves to {real}, outside the spec roots" if real != found else "is outside the spec roots", roots
        )
    for base in (load_one("storage_base"), *load_one("run_storage_bases")):  # every base a run may write under
        storage = local_storage_root(base)
        if storage is not None and is_inside(real, storage):
            raise _refused(path, "is in Courier's storage (uploaded files are never spec lists)", roots)
    return real


def site_url(value: str) -> str:
    """Check a run's ``base_url``: a URL on the ``spec_site_default`` connection's origin or on a host its
    ``allowed_hosts`` extra lists (the connection decides where checks may be pointed, not the run)."""
    from courier.http import settings_for

    try:
        settings = settings_for(SITE_CONN_ID)
    except Exception:
        raise ParamError(
            f"base_url = {value!r} is refused: the {SITE_CONN_ID} connection, whose host and allowed_hosts "
            "extra say where checks may be pointed, is not defined"
        ) from None
    return settings.endpoint(value, "base_url", relative=False).rstrip("/")


def resolve_base_url(base_url: str | None) -> str:
    """Return the base URL the cells get: the param, else the ``spec_site_default`` connection, else ''."""
    if base_url:
        return base_url.rstrip("/")
    try:
        from courier.http import settings_for

        return settings_for(SITE_CONN_ID).base_url.rstrip("/")
    except Exception as exc:  # no connection: the checks get an empty base URL and say so
        log.warning("No base_url given and connection %s unusable (%s): cells get an empty base URL", SITE_CONN_ID, exc)
        return ""


def plan_run(
    run_id: str, request: SpecRunRequest, queue: SpecQueue | None = None, created_by: str | None = None
) -> dict[str, Any]:
    """Validate and expand the list and queue this run's cells; return counts and one entry per worker.

    Raises :class:`SpecListError` (every problem, each naming spec and field) with nothing queued.
    """
    queue = queue or SpecQueue()
    path = resolve_spec_list(request.spec_list)
    expansion = load(path).expand()
    cells, filtered = expansion.cells, dict(expansion.filtered)
    if request.rerun_failed_of:
        try:
            wanted = queue.unfinished_keys(request.rerun_failed_of)
        except LookupError:
            raise SpecListError(
                [Problem(None, "rerun_failed_of", f"no spec run {request.rerun_failed_of!r} to re-run")]
            ) from None
        kept = [c for c in cells if c.key in wanted]
        if len(cells) > len(kept):
            filtered[f"did not fail in {request.rerun_failed_of}"] = len(cells) - len(kept)
        cells = kept
    base_url = resolve_base_url(request.base_url)
    ordered = queue.create_run(
        run_id,
        cells,
        spec_list=str(path),
        workdir=expansion.workdir,
        base_url=base_url,
        rerun_of=request.rerun_failed_of,
        filtered=filtered,
        created_by=created_by,
    )
    for reason, n in sorted(filtered.items()):
        log.info("Filtered %d cell(s): %s", n, reason)
    known = sum(1 for _, expected in ordered if expected is not None)
    log.info(
        "Queued %d cell(s) of %s for %s (%d with history, longest first; %d without, first)",
        len(ordered),
        path,
        run_id,
        known,
        len(ordered) - known,
    )
    workers = min(request.workers, len(ordered))
    return {
        "run_id": run_id,
        "spec_list": str(path),
        "base_url": base_url,
        "cells": len(ordered),
        "filtered": filtered,
        "filtered_total": sum(filtered.values()),
        "workers": [
            {
                "run_id": run_id,
                "worker_label": f"worker {i + 1}/{workers}",
                "lease_seconds": request.lease_seconds,
                "storage_base": request.storage_base,
            }
            for i in range(workers)
        ],
    }
