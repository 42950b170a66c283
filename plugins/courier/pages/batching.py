"""Pure fan-out logic: resolving page links, planning batches, the batch file, and where every file goes.

A run of ``paginated_fanout`` keeps its files under one prefix::

    {storage_base}/pages/<dag id>/<run id>/
        plan.json                 what was listed and how it was split
        batches/batch-0003.json   the input of batch 3 (its links and fetch settings)
        parts/part-0003.csv       its records (columns: the batch's union, first-seen order)
        parts/part-0003.json      its result (pages fetched, rows, failed pages, timings)
        report.csv                the merge of every part
        manifest.json             pages, rows, failed pages, timings

Only these paths and counts travel through XCom; page bodies never do.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urljoin

from courier.http import HttpSettings, RetryPolicy, origin
from courier.params import run_folder_name
from courier.webhooks.policy import TargetRefused

DEFAULT_BATCH_SIZE = 125
DEFAULT_MAX_BATCHES = 64
MAX_MAP_LENGTH = 1024  # Airflow's [core] max_map_length default: a plan never maps more tasks than this
BATCH_FILE_VERSION = 1
_UNSAFE_SEGMENT = re.compile(r"[^A-Za-z0-9._:+@=-]")


class PlanError(ValueError):
    """The listing or the requested plan cannot be used; the message says why."""


@dataclass(frozen=True)
class PageRef:
    """One page: its position in the listing (0-based) and its absolute URL."""

    page: int
    url: str


@dataclass(frozen=True)
class FetchSettings:
    """How a batch fetches its pages.

    :param conn_id: HTTP connection of the API (auth, headers, timeouts).
    :param records_key: dotted key of the records list in a page body.
    :param concurrency: pages in flight at once within the batch.
    :param attempts: tries per page, the first included.
    :param backoff: first retry delay in seconds (doubles, with jitter) when no ``Retry-After`` is given.
    :param max_backoff: cap of a computed delay.
    :param max_retry_after: cap of a server's ``Retry-After``.
    """

    conn_id: str = "paged_api_default"
    records_key: str = "data"
    concurrency: int = 32
    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 120.0

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.attempts,
            backoff=self.backoff,
            max_backoff=self.max_backoff,
            max_retry_after=self.max_retry_after,
        )


@dataclass(frozen=True)
class BatchSpec:
    """The input of one batch, written to ``batches/batch-NNNN.json`` by the plan and read by ``fetch-batch``."""

    index: int
    count: int
    pages: list[PageRef]
    fetch: FetchSettings = field(default_factory=FetchSettings)
    plan_id: str = ""  # names the plan; a result carrying another plan's id is stale (from an earlier run try)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": BATCH_FILE_VERSION,
            "plan_id": self.plan_id,
            "index": self.index,
            "count": self.count,
            "fetch": asdict(self.fetch),
            "pages": [[ref.page, ref.url] for ref in self.pages],
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> BatchSpec:
        if document.get("version") != BATCH_FILE_VERSION:
            raise PlanError(f"batch file version {document.get('version')!r} is not {BATCH_FILE_VERSION}")
        return cls(
            index=int(document["index"]),
            count=int(document["count"]),
            pages=[PageRef(int(page), str(url)) for page, url in document["pages"]],
            fetch=FetchSettings(**document["fetch"]),
            plan_id=str(document.get("plan_id", "")),
        )

    @property
    def label(self) -> str:
        """A name for the UI: ``batch 3/8 · pages 250-374``."""
        return batch_label(self.index, self.count, self.pages[0].page, self.pages[-1].page)


def batch_label(index: int, count: int, first: int, last: int) -> str:
    return f"batch {index + 1}/{count} · pages {first}-{last}"


def plan_batches(total: int, batch_size: int | None = None, max_batches: int = DEFAULT_MAX_BATCHES) -> list[range]:
    """Split ``total`` links into contiguous batches of near-equal size (they differ by at most one).

    ``batch_size`` (default :data:`DEFAULT_BATCH_SIZE`) is the most links per batch; if that would make more
    than ``max_batches`` batches, batches grow instead, so the mapped task count never exceeds ``max_batches``
    whatever the page count.
    """
    if total < 0:
        raise PlanError(f"link count must be >= 0, got {total}")
    if not 1 <= max_batches <= MAX_MAP_LENGTH:
        raise PlanError(f"max_batches must be in 1..{MAX_MAP_LENGTH} (Airflow's max_map_length), got {max_batches}")
    size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    if size < 1:
        raise PlanError(f"batch_size must be >= 1, got {size}")
    if total == 0:
        return []
    count = min(math.ceil(total / size), max_batches)
    base, extra = divmod(total, count)
    batches: list[range] = []
    start = 0
    for index in range(count):
        stop = start + base + (1 if index < extra else 0)
        batches.append(range(start, stop))
        start = stop
    return batches


@dataclass(frozen=True)
class ResolvedLinks:
    """Absolute page URLs in listing order, duplicates removed (their count kept)."""

    urls: list[str]
    duplicates: int


def resolve_links(
    listing_url: str, links: Any, *, allow_other_hosts: bool = False, settings: HttpSettings | None = None
) -> ResolvedLinks:
    """Resolve links (absolute, or relative to the listing URL) into absolute ``http(s)`` URLs.

    Links pointing to another origin than the listing are refused unless ``allow_other_hosts`` (the
    connection's ``allow_other_hosts`` extra, never a run param); even then each must pass the connection's
    address policy (``settings.check_destination``: in its ``allowed_hosts`` when set, public addresses
    only otherwise), and the connection's credentials never go to them. A link listed twice is fetched once.
    """
    if not isinstance(links, list):
        raise PlanError(f"the links are a {type(links).__name__}, not a list")
    home = origin(listing_url)
    seen: dict[str, None] = {}
    passed: set[tuple[str, str, int | None]] = set()
    duplicates = 0
    for position, link in enumerate(links):
        if not isinstance(link, str) or not link.strip():
            raise PlanError(f"link {position} is {link!r}, not a URL")
        url = urljoin(listing_url, link.strip())
        scheme, host, _ = where = origin(url)
        if scheme not in ("http", "https") or not host:
            raise PlanError(f"link {position} ({link!r}) is not an http(s) URL")
        if where != home and not allow_other_hosts:
            raise PlanError(
                f"link {position} ({url}) points outside {listing_url}'s origin; set the connection's "
                "allow_other_hosts extra to fetch it (without the connection's credentials)"
            )
        if where != home and where not in passed and settings is not None:
            try:
                settings.check_destination(url)
            except TargetRefused as exc:
                raise PlanError(f"link {position}: {exc}") from None
            passed.add(where)
        if url in seen:
            duplicates += 1
        seen.setdefault(url, None)
    return ResolvedLinks(list(seen), duplicates)


def path_segment(text: str) -> str:
    """Make a run id safe as one path segment (no ``/``, spaces or control characters)."""
    return _UNSAFE_SEGMENT.sub("_", text) or "_"


@dataclass(frozen=True)
class RunLayout:
    """Where the files of one fan-out run live (URLs under ``{storage_base}/pages/<dag id>/<run id>``)."""

    base: str

    @classmethod
    def for_run(cls, storage_base: str, dag_id: str, run_id: str) -> RunLayout:
        folder = run_folder_name(path_segment(run_id))  # "." and "..": refused, never a folder above
        return cls(f"{storage_base.rstrip('/')}/pages/{path_segment(dag_id)}/{folder}")

    @property
    def plan(self) -> str:
        return f"{self.base}/plan.json"

    @property
    def report(self) -> str:
        return f"{self.base}/report.csv"

    @property
    def manifest(self) -> str:
        return f"{self.base}/manifest.json"

    def batch(self, index: int) -> str:
        return f"{self.base}/batches/batch-{index:04d}.json"

    def part(self, index: int) -> str:
        return f"{self.base}/parts/part-{index:04d}.csv"


def result_url(part_url: str) -> str:
    """Return where a batch writes its result: the part's URL with ``.json`` instead of ``.csv``."""
    stem = part_url[: -len(".csv")] if part_url.endswith(".csv") else part_url
    return stem + ".json"
