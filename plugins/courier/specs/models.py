"""What ``/courier/specs`` answers, and what the queue's store takes and returns (:class:`Claim`, :class:`Outcome`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

CellStatus = Literal["queued", "running", "passed", "failed", "flaky", "skipped"]
AttemptStatus = Literal["passed", "failed", "skipped", "timed_out", "lost"]


class AttemptOut(BaseModel):
    attempt: int = Field(description="1 for the first try; a lost lease or a retry adds one")
    worker: str
    status: AttemptStatus
    started_at: datetime
    finished_at: datetime
    duration_ms: float
    exit_code: int | None = None
    reason: str | None = None


class CellOut(BaseModel):
    name: str = Field(description="spec [browser/viewport]")
    spec_id: str
    browser: str
    viewport: str
    viewport_size: str = Field(description="WIDTHxHEIGHT")
    status: CellStatus
    seq: int = Field(description="place in the queue (longest expected first)")
    expected_ms: float | None = Field(description="median of earlier passing runs; null: no history")
    duration_ms: float | None
    exit_code: int | None
    timed_out: bool
    reason: str | None
    output_tail: str | None
    artifacts: list[str] = Field(description="file names under the cell's artifacts folder")
    artifacts_path: str = Field(description="the cell's artifacts folder, relative to the run folder")
    attempts: list[AttemptOut]


class RunSummary(BaseModel):
    run_id: str
    spec_list: str
    base_url: str
    rerun_of: str | None
    created_at: datetime
    finished_at: datetime | None
    report_url: str | None
    by_status: dict[str, int] = Field(description="cells by status")
    filtered: dict[str, int] = Field(description="cells filtered out, by reason")
    counts: dict[str, Any] | None = Field(description="the report's counts (null until the report ran)")


class RunOut(RunSummary):
    cells: list[CellOut]


class RunPage(BaseModel):
    runs: list[RunSummary]


@dataclass(frozen=True)
class Claim:
    """A cell a worker holds: what to run and the (owner, attempt) its result must carry."""

    run_id: str
    key: str
    spec_id: str
    browser: str
    viewport: str
    width: int
    height: int
    run: tuple[str, ...]
    workdir: str
    timeout: float
    retries: int
    attempt: int
    failures: int
    owner: str

    @property
    def name(self) -> str:
        return f"{self.spec_id} [{self.browser}/{self.viewport}]"


@dataclass(frozen=True)
class Outcome:
    """What one attempt at a cell gave."""

    status: str  # passed | failed | skipped | timed_out
    duration_ms: float
    started_at: datetime
    exit_code: int | None = None
    reason: str | None = None
    output_tail: str = ""
    artifacts: tuple[str, ...] = ()
