"""``courier specs work``: the spec worker as a command, what pods run in ``execution_mode = kubernetes``.

It calls :func:`courier.specs.worker.run_worker`, exactly what the ``local`` task calls. The Courier database
comes from ``COURIER_DATABASE_URL`` or ``AIRFLOW_CONN_COURIER_DB``; ``s3://`` storage from ``aws_default``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

COMMAND = ("specs", "work")


def short_label(worker_label: str) -> str:
    """Return the lease-owner suffix of a worker label: ``worker 3/8`` -> ``w3of8``."""
    return worker_label.replace("worker ", "w").replace("/", "of")


def work_arguments(run_id: str, label: str, lease_seconds: float, storage_base: str | None = None) -> list[str]:
    """Return the ``courier`` arguments that run one worker (what the pod's container runs)."""
    args = [*COMMAND, "--run-id", run_id, "--label", label, "--lease-seconds", f"{lease_seconds:g}"]
    return args + (["--storage-base", storage_base] if storage_base else [])


def _work(args: argparse.Namespace) -> int:
    from courier.specs.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        result = run_worker(
            args.run_id, label=args.label, lease_seconds=args.lease_seconds, storage_base=args.storage_base
        )
    except Exception as exc:
        logging.getLogger("courier.specs").exception("specs work failed")
        print(f"courier specs work: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result.as_dict()), flush=True)
    return 0


def register(subparsers: Any) -> None:
    """Add the ``specs`` command group to the ``courier`` parser's subparsers."""
    specs = subparsers.add_parser("specs", help="spec matrix work (what the worker pods run)")
    commands = specs.add_subparsers(dest="specs_command", required=True)
    work = commands.add_parser("work", help="claim and run cells of a planned spec run until none is open")
    work.add_argument("--run-id", required=True, help="the spec run (spec_matrix DAG run id)")
    work.add_argument("--label", default="", help="added to the worker's name")
    work.add_argument("--lease-seconds", type=float, default=30.0, help="lease length; renewed every third")
    work.add_argument("--storage-base", default=None, help="override [courier] storage_base for artifacts")
    work.set_defaults(func=_work)
