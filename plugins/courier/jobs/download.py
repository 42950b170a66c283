"""``delayed_request_download``: every ``success`` job's result into storage, and the job marked ``downloaded``.

Each job is handled in its own transaction holding its row lock (``FOR UPDATE SKIP LOCKED``): overlapping
runs never download one job twice, and a failed download rolls back, leaving the job ``success`` for the
next run. A result the trigger stored already is only verified (it must exist and be non-empty).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx

from courier.jobs.rules import Status
from courier.jobs.store import JobStore, Moved

log = logging.getLogger(__name__)
Fetch = Callable[[str, str], str]
"""``fetch(result_url, job_id) -> stored relative path``."""


def fetch_with_processor(result_url: str, job_id: str) -> str:
    import asyncio

    from courier.jobs.processor_client import client, fetch_result

    async def go() -> str:
        async with client() as http:
            return await fetch_result(http, result_url, job_id)

    return asyncio.run(go())


def _stored(relative: str | None) -> bool:
    if not relative:
        return False
    from courier.storage import storage_base

    path = storage_base() / relative
    return bool(path.is_file() and path.stat().st_size > 0)


def download_all(store: JobStore, limit: int | None = None, fetch: Fetch = fetch_with_processor) -> int:
    from courier.jobs.callbacks import notify

    done = 0
    skipped: list[str] = []
    while limit is None or done < limit:
        with store.next_to_download(skipped) as (conn, row):
            if row is None:
                break
            job_id = row["job_id"]
            try:
                relative = row["report_file_path"] if _stored(row["report_file_path"]) else None
                if relative is None:
                    if not row["result_url"]:
                        raise RuntimeError("no stored report and no result_url")
                    relative = fetch(row["result_url"], job_id)
            except (httpx.HTTPError, OSError, RuntimeError, ValueError) as exc:
                log.warning("job %s: download failed (%s); it stays success for the next run", job_id, exc)
                conn.rollback()
                skipped.append(job_id)
                continue
            store.mark_downloaded(conn, job_id, relative)
        done += 1
        notify(Moved(job_id, Status.DOWNLOADED, row["callback_url"]))
    return done
