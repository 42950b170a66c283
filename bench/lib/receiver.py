"""A lean webhook receiver for the timer benchmark: records (webhook id, arrival, scheduled_for), answers 200.

Run as ``python -m bench.lib.receiver --port N`` (its own process, so timing is not skewed by the benchmark
driver). ``GET /_results`` returns the arrivals; ``POST /_reset`` clears them.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import uvicorn

ARRIVALS: list[tuple[str, float, str]] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    arrived = time.time()
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path = scope["path"]
    if path == "/_results":
        answer = json.dumps([{"id": i, "arrived": a, "scheduled_for": s} for i, a, s in ARRIVALS]).encode()
    elif path == "/_reset":
        ARRIVALS.clear()
        answer = b"{}"
    else:
        ARRIVALS.append((path.rsplit("/", 1)[-1], arrived, json.loads(body)["scheduled_for"]))
        answer = b'{"ok":true}'
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": answer})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
