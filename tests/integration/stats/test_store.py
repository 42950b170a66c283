"""Stats on a real PostgreSQL: ingest over the API, exact roll-ups, late events, prune, concurrency."""

from __future__ import annotations

import json
import random
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from courier.stats.chunks import Row
from courier.stats.store import StatsStore, partition_name
from tests.helpers import api_app
from tests.oracles import percentile_cont

PCTS = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


@pytest.fixture
def client(courier_db: str, forget_limits: Callable[[], None]) -> Iterator[TestClient]:
    with TestClient(api_app("admin")) as test_client:
        yield test_client


@pytest.fixture
def store(courier_db: str) -> StatsStore:
    return StatsStore(courier_db)


def _raw_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM courier_stat_events").fetchone()[0])  # type: ignore[index]


def _rollups(url: str) -> dict[tuple[str, str, datetime], dict[str, Any]]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        rows = conn.execute("SELECT * FROM courier_stats").fetchall()
    return {(r["name"], json.dumps(r["tags"], sort_keys=True), r["minute"]): r for r in rows}


def _rows(minute: datetime, count: int, seed: int, names: tuple[str, ...] = ("a", "b")) -> list[Row]:
    rng = random.Random(seed)
    rows: list[Row] = []
    for i in range(count):
        ts = minute + timedelta(microseconds=rng.randrange(60_000_000))
        tags = rng.choice(['{"host":"h1"}', '{"host":"h2"}', "{}"])
        value = rng.choice([rng.gauss(100, 30), float(rng.randrange(10)), rng.random() * 1e6])
        rows.append((minute, ts, rng.choice(names), tags, "timer", value))
        del i
    return rows


def _reference(rows: list[Row]) -> dict[tuple[str, str, datetime], dict[str, float]]:
    groups: dict[tuple[str, str, datetime], list[Row]] = defaultdict(list)
    for row in rows:
        groups[(row[2], json.dumps(json.loads(row[3]), sort_keys=True), row[0])].append(row)
    out = {}
    for key, group in groups.items():
        values = [r[5] for r in group]
        out[key] = {
            "count": len(values),
            "sum": sum(values),
            "min": min(values),
            "max": max(values),
            "last": max(group, key=lambda r: r[1])[5],
            **{p: percentile_cont(values, f) for p, f in PCTS.items()},
        }
    return out


def _assert_equal(stored: dict[tuple[str, str, datetime], dict[str, Any]], rows: list[Row]) -> None:
    reference = _reference(rows)
    assert set(stored) == set(reference)
    for key, want in reference.items():
        got = stored[key]
        assert got["count"] == want["count"], key
        for field in ("min", "max", "last", *PCTS):
            assert got[field] == pytest.approx(want[field], rel=1e-12, abs=1e-9), (key, field)
        assert got["sum"] == pytest.approx(want["sum"], rel=1e-9), key


# ----------------------------------------------------------------------------------- ingest over the API
def test_batch_with_one_bad_event_stores_nothing(client: TestClient, courier_db: str) -> None:
    batch = [{"name": "ok", "value": i} for i in range(50)] + [{"name": "ok", "value": 1, "type": "histogram"}]
    answer = client.post("/stats", json=batch)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", 50, "type"]
    assert _raw_count(courier_db) == 0
    assert client.post("/stats", content=b"[{not json", headers={"content-type": "application/json"}).status_code == 400
    assert client.post("/stats", content=b"a,b", headers={"content-type": "text/csv"}).status_code == 415
    assert _raw_count(courier_db) == 0


def test_body_and_batch_limits(
    client: TestClient, courier_db: str, monkeypatch: pytest.MonkeyPatch, forget_limits: Callable[[], None]
) -> None:
    monkeypatch.setenv("AIRFLOW__COURIER__STATS_MAX_BATCH_EVENTS", "3")
    monkeypatch.setenv("AIRFLOW__COURIER__STATS_MAX_BODY_BYTES", "1000")
    forget_limits()
    too_many = client.post("/stats", json=[{"name": "a", "value": 1}] * 4)
    assert too_many.status_code == 422 and "at most 3" in too_many.json()["detail"][0]["msg"]
    too_big = client.post("/stats", json=[{"name": "a" * 190, "value": 1, "tags": {"k": "v" * 190}}] * 3)
    assert too_big.status_code == 413
    assert client.post("/stats", json=[{"name": "a", "value": 1}] * 3).json() == {"accepted": 3, "duplicate": False}
    assert _raw_count(courier_db) == 3


def test_repeated_batch_id_is_stored_once(client: TestClient, courier_db: str) -> None:
    ndjson = b'{"name": "jobs.done", "value": 1, "type": "counter"}\n{"name": "jobs.done", "value": 2}\n'
    headers = {"content-type": "application/x-ndjson", "idempotency-key": "batch-7"}
    first = client.post("/stats", content=ndjson, headers=headers)
    again = client.post("/stats", content=ndjson, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json() == {"accepted": 2, "duplicate": False}
    assert again.json() == {"accepted": 2, "duplicate": True}
    assert _raw_count(courier_db) == 2


def test_series_and_names_show_live_then_rolled_up_points(client: TestClient, store: StatsStore) -> None:
    now = datetime.now(UTC)
    minute = now.replace(second=0, microsecond=0) - timedelta(minutes=2)
    events = [
        {
            "name": "api.ms",
            "value": v,
            "type": "timer",
            "tags": {"route": r},
            "ts": (minute + timedelta(seconds=s)).isoformat(),
        }
        for v, r, s in [(1, "x", 1), (2, "x", 2), (3, "x", 3), (4, "x", 4), (10, "y", 5)]
    ]
    assert client.post("/stats", json=events).status_code == 202
    query = {"name": "api.ms", "from": (minute - timedelta(minutes=5)).isoformat(), "to": now.isoformat()}
    live = client.get("/stats/series", params={**query, "tag": "route:x"}).json()
    assert live["name"] == "api.ms" and len(live["series"]) == 1
    [point] = live["series"][0]["points"]
    assert live["series"][0]["tags"] == {"route": "x"}
    assert point["partial"] is True and point["count"] == 4 and point["p50"] == 2.5 and point["last"] == 4
    assert point["p90"] == pytest.approx(3.7)
    store.rollup()
    rolled = client.get("/stats/series", params=query).json()
    assert [s["tags"] for s in rolled["series"]] == [{"route": "x"}, {"route": "y"}]
    assert rolled["series"][0]["points"][0] == {**point, "partial": False}
    assert client.get("/stats/names").json() == {"names": [{"name": "api.ms", "tag_keys": ["route"]}]}
    assert client.get("/stats/series", params={**query, "tag": "nocolon"}).status_code == 422
    assert client.get("/stats/series", params={**query, "tag": "k:a\x00b"}).status_code == 422  # not a 500
    bad = client.post("/stats", json=[{"name": "m", "value": 1, "tags": {"k": "a\x00b"}}])
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", 0, "tags"], bad.text


# ----------------------------------------------------------------------------------- roll-up and prune
def test_rollup_equals_reference_aggregation(store: StatsStore, courier_db: str) -> None:
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    rows = [row for m in range(3) for row in _rows(base + timedelta(minutes=m), 3000, seed=m)]
    for start in range(0, len(rows), 1000):
        store.ingest(rows[start : start + 1000])
    result = store.rollup()
    assert result["minutes"] == 3
    _assert_equal(_rollups(courier_db), rows)
    before = _rollups(courier_db)
    assert store.rollup()["minutes"] == 0  # a rerun changes nothing
    assert {k: {f: v for f, v in r.items() if f != "rolled_up_at"} for k, r in _rollups(courier_db).items()} == {
        k: {f: v for f, v in r.items() if f != "rolled_up_at"} for k, r in before.items()
    }


def test_late_events_reaggregate_their_minute(store: StatsStore, courier_db: str) -> None:
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    first = _rows(minute, 500, seed=1)
    store.ingest(first)
    store.rollup()
    late = _rows(minute, 200, seed=2)
    store.ingest(late)
    watermark = store.watermark()
    assert watermark is not None and watermark > minute  # already rolled up: the late events mark it again
    assert store.rollup()["minutes"] == 1
    _assert_equal(_rollups(courier_db), first + late)


def test_prune_never_drops_unaggregated_then_counts_every_event_once(store: StatsStore, courier_db: str) -> None:
    now = datetime.now(UTC)
    old = now.replace(second=0, microsecond=0) - timedelta(hours=1)
    rows = [row for m in range(5) for row in _rows(old + timedelta(minutes=m), 300, seed=10 + m)]
    store.ingest(rows)
    # Roll-ups "stopped" for an hour: prune runs with a retention of 600 s and must keep every minute.
    assert store.prune(600, 30 * 86400)["dropped"] == 0
    assert _raw_count(courier_db) == len(rows)
    store.rollup()  # roll-ups resume
    _assert_equal(_rollups(courier_db), rows)
    late = _rows(old + timedelta(minutes=4), 50, seed=99)  # arrives (say, replayed) for an old minute
    store.ingest(late)
    result = store.prune(600, 30 * 86400)
    # four minutes with events + the empty one created ahead; the minute with late events stays
    assert result["dropped"] == 5 and result["kept_unrolled"] == 1
    store.rollup()
    assert store.prune(600, 30 * 86400)["dropped"] == 1
    assert _raw_count(courier_db) == 0
    _assert_equal(_rollups(courier_db), rows + late)  # every event counted exactly once
    with psycopg.connect(courier_db) as conn:
        left = conn.execute("SELECT count(*) FROM pg_class WHERE relname = %s", (partition_name(old),)).fetchone()
    assert left == (0,)  # the prune dropped the partition itself, not rows


def test_rollups_expire_after_rollup_retention(store: StatsStore, courier_db: str) -> None:
    old = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    store.ingest(_rows(old, 10, seed=3))
    store.rollup()
    assert _rollups(courier_db)
    assert store.prune(600, 3600)["rollups_deleted"] > 0
    assert _rollups(courier_db) == {}


def test_concurrent_ingest_while_rollup_and_prune_run_loses_nothing(store: StatsStore, courier_db: str) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    minutes = [now - timedelta(minutes=m) for m in range(1, 4)]  # closed minutes, rolled up as we write
    sent: list[Row] = []
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        writer_store = StatsStore(courier_db)
        try:
            for i in range(30):
                batch = _rows(rng.choice(minutes), 200, seed=seed * 1000 + i)
                writer_store.ingest(batch)
                with lock:
                    sent.extend(batch)
        except BaseException as exc:
            errors.append(exc)

    def roller() -> None:
        roll_store = StatsStore(courier_db)
        try:
            while not stop.is_set():
                roll_store.rollup(now=datetime.now(UTC) + timedelta(minutes=1))  # every written minute closed
                roll_store.prune(600, 30 * 86400)
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(s,)) for s in range(3)]
    background = threading.Thread(target=roller)
    background.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    background.join()
    assert errors == []
    store.rollup(now=datetime.now(UTC) + timedelta(minutes=1))
    assert _raw_count(courier_db) == len(sent) == 3 * 30 * 200
    _assert_equal(_rollups(courier_db), sent)


def test_awkward_names_and_tags_round_trip_through_copy(client: TestClient, courier_db: str) -> None:
    events = [
        {"name": "path\\to\\metric", "value": 1.5, "tags": {"q": 'tab\there "quoted"\nnewline \\N'}},
        {"name": "ünïcode ✓", "value": -2e-300, "tags": {"z": "1", "a": "\\"}},
    ]
    assert client.post("/stats", json=events).status_code == 202
    with psycopg.connect(courier_db) as conn:
        stored = conn.execute("SELECT name, tags, value FROM courier_stat_events ORDER BY seq, pos").fetchall()
    assert stored == [(e["name"], e["tags"], e["value"]) for e in events]
