"""The design Courier's stats replace, as the benchmark's baseline: an HTTP ``POST /stats`` whose every event
is one ``INSERT`` and one commit in PostgreSQL (the Airflow POC's path, without Airflow around it).

Run as ``python -m bench._poc_stats --port N --db URL`` (its own process, one uvicorn worker like Courier's
API server). The body is the same JSON array Courier takes, validated with pydantic as a FastAPI route does;
each thread-pool worker keeps one connection (no connect per request), autocommit, so each INSERT commits.
``GET /ready`` answers once the table exists.
"""

from __future__ import annotations

import argparse
import json
import threading
from typing import Any

import psycopg
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field

TABLE = "bench_poc_stats"


class Event(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    value: float
    type: str = "gauge"
    tags: dict[str, str] = Field(default_factory=dict)


def create_app(db_url: str) -> FastAPI:
    app = FastAPI()
    local = threading.local()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (name text, value float8, type text, tags jsonb, ts timestamptz)"
        )

    def connection() -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(local, "conn", None)
        if conn is None or conn.closed:
            conn = local.conn = psycopg.connect(db_url, autocommit=True)
        return conn

    @app.get("/ready")
    def ready() -> dict[str, bool]:
        return {"ready": True}

    @app.post("/stats", status_code=202)
    def stats(events: list[Event]) -> dict[str, int]:
        conn = connection()
        for event in events:  # the POC's path: one row, one round trip, one commit per event
            conn.execute(
                f"INSERT INTO {TABLE} (name, value, type, tags, ts) VALUES (%s, %s, %s, %s, now())",
                (event.name, event.value, event.type, json.dumps(event.tags)),
            )
        return {"accepted": len(events)}

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(args.db), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
