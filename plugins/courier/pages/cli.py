"""``courier pages …``: the entry point pods run in ``execution_mode = kubernetes``.

``courier pages fetch-batch --batch <url> --out <url>`` fetches one planned batch and writes its part file
and result (``file:///…`` or ``s3://…``; S3 through ``aws_default``). Connections come from the
environment (``AIRFLOW_CONN_PAGED_API_DEFAULT``, ``AIRFLOW_CONN_AWS_DEFAULT``), as in the pod.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

COMMAND = ("pages", "fetch-batch")


def fetch_batch_arguments(batch_url: str, out_url: str) -> list[str]:
    """Return the ``courier`` arguments that fetch one batch (what the pod's container runs)."""
    return [*COMMAND, "--batch", batch_url, "--out", out_url]


def _fetch_batch(args: argparse.Namespace) -> int:
    from courier.pages.batch import run_batch

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        result = run_batch(args.batch, args.out)
    except Exception as exc:
        logging.getLogger("courier.pages").exception("fetch-batch failed")
        print(f"courier pages fetch-batch: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    summary = {k: result[k] for k in ("index", "label", "pages", "pages_ok", "rows", "seconds")}
    print(json.dumps({**summary, "failed_pages": len(result["failed_pages"]), "part": args.out}), flush=True)
    return 0


def register(subparsers: Any) -> None:
    """Add the ``pages`` command group to the ``courier`` parser's subparsers."""
    pages = subparsers.add_parser("pages", help="paginated fan-out work (what the pods run)")
    commands = pages.add_subparsers(dest="pages_command", required=True)
    fetch = commands.add_parser("fetch-batch", help="fetch one planned batch of pages and write its part file")
    fetch.add_argument("--batch", required=True, help="URL of the batch file (file:///… or s3://…)")
    fetch.add_argument("--out", required=True, help="URL of the part CSV to write (its result JSON goes beside it)")
    fetch.set_defaults(func=_fetch_batch)
