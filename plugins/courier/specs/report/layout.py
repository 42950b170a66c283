"""Where a spec run's files go: ``{storage_base}/specs/spec_matrix/<run id>/``, each cell's artifacts under
``artifacts/<spec>/<browser>-<viewport>/`` (names made safe)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from courier.domains import SPEC_MATRIX

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

DAG_ID = SPEC_MATRIX
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def run_folder(run_id: str, storage_base: str | None = None) -> ObjectStoragePath:
    """Return ``{storage_base}/specs/spec_matrix/<run id>`` (:class:`~courier.params.ParamError` for the run
    ids ``.`` and ``..``, which would name a folder above the run's)."""
    from courier.params import run_folder_name
    from courier.storage import storage_base as base

    return base(storage_base) / "specs" / DAG_ID / run_folder_name(run_id)


def artifact_prefix(spec_id: str, browser: str, viewport: str) -> str:
    """Return the artifacts folder of a cell, relative to the run folder."""
    return f"artifacts/{_UNSAFE.sub('_', spec_id)}/{_UNSAFE.sub('_', browser)}-{_UNSAFE.sub('_', viewport)}"
