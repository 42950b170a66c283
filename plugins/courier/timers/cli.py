"""``courier timers dispatch``: run a timer dispatcher outside Airflow (benchmarks, tests, debugging).

In production the ``webhook_timers`` DAG runs the same dispatcher in the triggerer. Settings come from
``[courier]`` (``AIRFLOW__COURIER__*``) and the database from ``COURIER_DATABASE_URL`` / ``courier_db``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from typing import Any


async def _dispatch(seconds: float | None, overrides: dict[str, Any]) -> dict[str, int]:
    from courier.db.hook import CourierDbHook
    from courier.timers.dispatcher import Dispatcher, DispatcherSettings

    db = CourierDbHook()
    await db.aconninfo()  # resolved once, now: a database that is not configured is an error at once
    dispatcher = Dispatcher(db, DispatcherSettings.from_config(**overrides))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, dispatcher.stop)
    if seconds is not None:
        loop.call_later(seconds, dispatcher.stop)
    await dispatcher.run()
    return dispatcher.stats


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    overrides = {k: v for k, v in (("horizon", args.horizon), ("claim_lease", args.claim_lease)) if v is not None}
    from courier.config import CourierConfigError

    try:
        stats = asyncio.run(_dispatch(args.seconds, overrides))
    except (RuntimeError, CourierConfigError) as exc:  # no database, no webhook_secret: say which, no traceback
        print(f"courier timers dispatch: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(BrokenPipeError):
        print(json.dumps(stats), flush=True)
    return 0


def register(subparsers: Any) -> None:
    """Add the ``timers`` command group to the ``courier`` parser's subparsers."""
    timers = subparsers.add_parser("timers", help="webhook timers")
    sub = timers.add_subparsers(dest="timers_command", required=True)
    dispatch = sub.add_parser("dispatch", help="run a timer dispatcher in the foreground until Ctrl-C")
    dispatch.add_argument("--seconds", type=float, help="stop after this many seconds")
    dispatch.add_argument("--horizon", type=float, help=argparse.SUPPRESS)
    dispatch.add_argument("--claim-lease", type=float, help=argparse.SUPPRESS)
    dispatch.set_defaults(func=_run)
