"""
### bench_specs_static / bench_specs_per_cell

Baselines of `bench/specs.py`, run on the same stack and spec list as `spec_matrix`, with the same cell runner
(`courier.specs.runner.run_cell`) and no queue:

- **bench_specs_static**: a static round-robin split — cell *i* goes to share *i mod shares* (what
  `--shard`-style splits and Indexed Jobs do); each mapped task runs its share one cell after another.
- **bench_specs_per_cell**: one mapped task per cell (the one-pod-per-task design in Airflow terms), on the
  first `limit` cells.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

DAG_ARGS = {
    "start_date": datetime(2026, 1, 1),
    "catchup": False,
    "doc_md": __doc__,
    "tags": ["courier", "bench"],
    "params": {
        "spec_list": Param("", type="string"),
        "shares": Param(8, type="integer", minimum=1),
        "limit": Param(80, type="integer", minimum=1),
    },
}


def _cells(spec_list: str) -> list[dict]:
    from dataclasses import asdict

    from courier.specs.speclist import load

    expansion = load(spec_list).expand()
    return [asdict(c) | {"workdir": expansion.workdir} for c in expansion.cells]


def _run(cell: dict) -> str:
    import tempfile
    from pathlib import Path

    from courier.specs.models import Claim
    from courier.specs.runner import run_cell

    claim = Claim(
        run_id="baseline", key=f"{cell['spec_id']}|{cell['browser']}|{cell['viewport']}", spec_id=cell["spec_id"],
        browser=cell["browser"], viewport=cell["viewport"], width=cell["width"], height=cell["height"],
        run=tuple(cell["run"]), workdir=cell["workdir"], timeout=cell["timeout"], retries=0, attempt=1, failures=0,
        owner="baseline",
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        return run_cell(claim, "", Path(scratch)).status


with DAG(
    "bench_specs_static",
    schedule=None,
    **DAG_ARGS,  # type: ignore[arg-type]
):

    @task
    def split(params: dict | None = None) -> list[list[dict]]:  # type: ignore[no-untyped-def]
        cells = _cells(params["spec_list"])  # type: ignore[index]
        shares = int(params["shares"])  # type: ignore[index]
        return [cells[i::shares] for i in range(shares)]

    @task(max_active_tis_per_dagrun=8)  # the same 8 slots as spec_matrix's workers
    def run_share(share: list[dict]) -> dict:
        statuses = [_run(cell) for cell in share]
        return {"cells": len(statuses), "passed": statuses.count("passed")}

    run_share.expand(share=split())


with DAG(
    "bench_specs_per_cell",
    schedule=None,
    **DAG_ARGS,  # type: ignore[arg-type]
):

    @task
    def cells(params: dict | None = None) -> list[dict]:  # type: ignore[no-untyped-def]
        return _cells(params["spec_list"])[: int(params["limit"])]  # type: ignore[index]

    @task(max_active_tis_per_dagrun=8)  # the same 8 slots as spec_matrix's workers
    def run_one(cell: dict) -> str:
        return _run(cell)

    run_one.expand(cell=cells())
