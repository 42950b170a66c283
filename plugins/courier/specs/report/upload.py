"""A cell's artifacts, copied from the worker's folder to the run folder (the worker calls it after each attempt)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from courier.specs.report.layout import artifact_prefix, run_folder

if TYPE_CHECKING:
    from courier.specs.models import Claim


def upload_artifacts(run_id: str, claim: Claim, folder: Path, storage_base: str | None = None) -> int:
    """Copy every file under ``folder`` to the cell's artifacts folder (replacing an earlier attempt's)."""
    from courier.storage import is_local

    target = run_folder(run_id, storage_base) / artifact_prefix(claim.spec_id, claim.browser, claim.viewport)
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        dest = target / path.relative_to(folder).as_posix()
        if is_local(dest):
            dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(path.read_bytes())
        count += 1
    return count
