"""Per-object authorization and creator-scoped idempotency keys (issue 23, M2 and M3), on a real database.

Two non-admin users (``SimpleAuthManager`` role ``user``: edit access to the governing DAGs, no edit access to
connections) and one with full access (``op``: edit access to connections too). Each test performs the attack:
user B reads, lists, cancels or reuses what user A created.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from courier.timers.store import TimerStore
from tests.helpers import api_app, first_event_while_dispatching

TARGET = "http://127.0.0.1:9/hooks/"


@pytest.fixture
def clients(
    courier_db: str, webhook_secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, TestClient]]:
    from courier.jobs import start

    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", (tmp_path / "store").as_uri())
    monkeypatch.setattr(start, "wake", lambda now=None: False)  # no Airflow scheduler here
    made = {
        "alice": TestClient(api_app("user", "alice")),
        "bob": TestClient(api_app("user", "bob")),
        "admin": TestClient(api_app("admin", "root")),
        "op": TestClient(api_app("op", "operator")),
        "viewer": TestClient(api_app("viewer", "vera")),
    }
    for client in made.values():
        client.__enter__()
    yield made
    for client in made.values():
        client.__exit__(None, None, None)


def _ids(answer: Any, key: str, id_field: str) -> set[str]:
    assert answer.status_code == 200, answer.text
    return {item[id_field] for item in answer.json()[key]}


def test_a_user_cannot_read_list_or_cancel_another_users_timer(clients: dict[str, TestClient]) -> None:
    alice, bob, admin = clients["alice"], clients["bob"], clients["admin"]
    created = alice.post("/timers", json={"url": TARGET + "?token=alice-secret", "delay_seconds": 600})
    assert created.status_code == 201, created.text
    timer_id = created.json()["id"]
    bobs = bob.post("/timers", json={"url": TARGET, "delay_seconds": 600}).json()["id"]

    assert bob.get(f"/timers/{timer_id}").status_code == 404  # 404, not 403: the id does not leak
    assert timer_id not in _ids(bob.get("/timers"), "timers", "id")
    assert _ids(bob.get("/timers"), "timers", "id") == {bobs}
    assert bob.post(f"/timers/{timer_id}/cancel").status_code == 404
    assert clients["viewer"].get(f"/timers/{timer_id}").status_code == 404
    assert alice.get(f"/timers/{timer_id}").json()["status"] == "scheduled"  # bob changed nothing
    page = bob.get("/ui/timers")
    assert page.status_code == 200 and timer_id not in page.text and "alice-secret" not in page.text
    assert bob.get(f"/ui/timers/{timer_id}").status_code == 404
    # full access (admin; op) sees and cancels every timer
    assert {timer_id, bobs} <= _ids(admin.get("/timers"), "timers", "id")
    assert clients["op"].get(f"/timers/{timer_id}").status_code == 200
    assert admin.post(f"/timers/{timer_id}/cancel").json()["status"] == "cancelled"


def test_an_idempotency_key_is_its_creators_alone_and_another_body_is_409(
    clients: dict[str, TestClient], courier_db: str
) -> None:
    alice, bob = clients["alice"], clients["bob"]
    body = {"url": TARGET, "delay_seconds": 600, "payload": {"n": 1}, "idempotency_key": "order-7"}
    first = alice.post("/timers", json=body)
    assert first.status_code == 201
    same = alice.post("/timers", json=body)
    assert same.status_code == 200 and same.json()["id"] == first.json()["id"]
    # bob takes alice's key: his own timer, never alice's
    bobs = bob.post("/timers", json={**body, "url": "http://127.0.0.1:9/attacker/"})
    assert bobs.status_code == 201 and bobs.json()["id"] != first.json()["id"]
    assert alice.get(f"/timers/{first.json()['id']}").json()["url"] == TARGET
    # alice's key with another body: 409, nothing stored (single and batch)
    other = alice.post("/timers", json={**body, "payload": {"n": 2}})
    assert other.status_code == 409, other.text
    assert other.json()["detail"][0]["loc"] == ["body", "idempotency_key"]
    batch = alice.post(
        "/timers/batch", json={"timers": [{"url": TARGET, "delay_seconds": 5}, {**body, "url": TARGET + "x/"}]}
    )
    assert batch.status_code == 409 and batch.json()["detail"][0]["loc"] == ["body", "timers", 1, "idempotency_key"]
    assert len(TimerStore(courier_db).list(None, 100, None)[0]) == 2  # alice's and bob's; the batch stored none


def _context(dag_id: str = "orders") -> Any:
    ti = SimpleNamespace(dag_id=dag_id, run_id="manual__1", task_id="remind", map_index=-1, try_number=1)
    ti.xcom_push = lambda key, value: None  # the operator records its timer link; not this test's subject
    return {"ti": ti}


async def test_a_user_cannot_take_the_operators_default_key(
    clients: dict[str, TestClient], courier_db: str, receiver: str, webhook_secret: str
) -> None:
    """The attack of M2: pre-create ``ScheduleWebhookOperator``'s predictable key with an attacker's URL."""
    from airflow.sdk.exceptions import TaskDeferred

    from courier.demo import receiver as demo_receiver
    from courier.timers.operators import ScheduleWebhookOperator

    attacker = clients["alice"].post(
        "/timers",
        json={
            "url": "http://127.0.0.1:9/attacker/",
            "delay_seconds": 3000,
            "idempotency_key": "orders/manual__1/remind/-1",
        },
    )
    assert attacker.status_code == 201, attacker.text
    operator = ScheduleWebhookOperator(
        task_id="remind", url=receiver + "/hooks/", delay_seconds=0.3, wait_for_delivery=True, poll_interval=0.2
    )
    with pytest.raises(TaskDeferred) as deferred:
        await asyncio.to_thread(operator.execute, _context())
    trigger = deferred.value.trigger
    assert trigger.timer_id != attacker.json()["id"]
    event = await first_event_while_dispatching(trigger, courier_db, webhook_secret)
    assert event.payload["timer_status"] == "delivered"
    result = await asyncio.to_thread(operator.execute_complete, _context(), event.payload)
    assert result["url"] == receiver + "/hooks/" and result["id"] == trigger.timer_id
    assert [a["webhook_id"] for a in demo_receiver.STATE.arrivals] == [trigger.timer_id]  # the real one was sent
    assert TimerStore(courier_db).get(attacker.json()["id"]).status == "scheduled"  # the attacker's: not sent


def _push(client: TestClient, data: bytes = b"a,b\n1,2\n") -> dict[str, Any]:
    answer = client.post("/jobs/files", files={"file": ("data.csv", data, "text/csv")})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_a_user_cannot_read_cancel_or_reuse_another_users_job_or_upload(clients: dict[str, TestClient]) -> None:
    alice, bob, admin = clients["alice"], clients["bob"], clients["admin"]
    pushed = _push(alice)
    job = alice.post("/jobs", json={"files_to_process": [pushed["file_id"]], "idempotency_key": "k1"})
    assert job.status_code == 202, job.text
    job_id = job.json()["job_id"]

    assert bob.get(f"/jobs/{job_id}").status_code == 404
    assert bob.get(f"/jobs/{job_id}/report").status_code == 404
    assert job_id not in _ids(bob.get("/jobs"), "jobs", "job_id")
    assert bob.post(f"/jobs/{job_id}/cancel").status_code == 404
    assert bob.get(f"/ui/jobs/{job_id}").status_code == 404 and job_id not in bob.get("/ui/jobs").text
    # alice's upload handed to the processor by bob: by id (fast path and batch) and by path
    for body in (
        {"files_to_process": [pushed["file_id"]]},
        {"files_to_process": [pushed["path"]]},
        {"files_to_process": [pushed["file_id"]], "callback_url": "http://127.0.0.1:9/cb/"},
    ):
        refused = bob.post("/jobs", json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["detail"][0]["loc"][:2] == ["body", "files_to_process"]
    batch = bob.post("/jobs/batch", json={"jobs": [{"files_to_process": [pushed["path"]]}]})
    assert batch.status_code == 422 and _ids(bob.get("/jobs"), "jobs", "job_id") == set()
    # bob's own upload by path is fine; alice's key is bob's to use for his own job
    mine = _push(bob)
    own = bob.post("/jobs", json={"files_to_process": [mine["path"]], "idempotency_key": "k1"})
    assert own.status_code == 202 and own.json()["job_id"] != job_id
    # alice's key with another body: 409; the same body: her job
    assert (
        alice.post("/jobs", json={"files_to_process": [pushed["file_id"]], "idempotency_key": "k1"}).json()["job_id"]
        == job_id
    )
    other = alice.post(
        "/jobs", json={"files_to_process": [pushed["file_id"]], "params": {"x": 1}, "idempotency_key": "k1"}
    )
    assert other.status_code == 409 and other.json()["detail"][0]["loc"] == ["body", "idempotency_key"]
    other_batch = alice.post(
        "/jobs/batch",
        json={"jobs": [{"files_to_process": [pushed["file_id"]], "params": {"x": 2}, "idempotency_key": "k1"}]},
    )
    assert other_batch.status_code == 409
    assert other_batch.json()["detail"][0]["loc"] == ["body", "jobs", 0, "idempotency_key"]
    # full access: sees every job, may name any stored file, cancels alice's job
    assert {job_id, own.json()["job_id"]} <= _ids(admin.get("/jobs"), "jobs", "job_id")
    assert admin.post("/jobs", json={"files_to_process": [pushed["path"]]}).status_code == 202
    assert admin.post(f"/jobs/{job_id}/cancel").json()["status"] == "cancelled"


def test_a_user_cannot_read_another_users_report_ticket_or_spec_run(
    clients: dict[str, TestClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tickets and spec runs are made by DAG runs: each belongs to the user who triggered the run."""
    from courier.domains import REPORT_COLLECTOR, run_creator
    from courier.reports.store import TaskKey, TicketStore
    from courier.specs.speclist import Cell
    from courier.specs.store import SpecQueue

    alice, bob, admin = clients["alice"], clients["bob"], clients["admin"]
    tickets = TicketStore()
    tickets.add(
        TaskKey(REPORT_COLLECTOR, "manual__alice", "collect_report"), "T-ALICE", run_creator(REPORT_COLLECTOR, "alice")
    )
    tickets.add(
        TaskKey(REPORT_COLLECTOR, "scheduled__1", "collect_report"), "T-SCHEDULED", run_creator(REPORT_COLLECTOR, None)
    )

    def tickets_of(client: TestClient) -> set[str]:
        return _ids(client.get("/reports/collections"), "collections", "ticket_id")

    assert tickets_of(alice) == {"T-ALICE"}
    assert tickets_of(bob) == set()
    assert tickets_of(admin) == {"T-ALICE", "T-SCHEDULED"}
    assert "T-ALICE" not in bob.get("/ui/reports").text and "T-ALICE" in alice.get("/ui/reports").text
    run_tab = bob.get("/ui/run", params={"dag_id": REPORT_COLLECTOR, "run_id": "manual__alice"})
    assert run_tab.status_code == 200 and "T-ALICE" not in run_tab.text
    own_tab = alice.get("/ui/run", params={"dag_id": REPORT_COLLECTOR, "run_id": "manual__alice"})
    assert own_tab.status_code == 200 and "T-ALICE" in own_tab.text

    cell = Cell("home", "chromium", "desktop", 1280, 800, ("true",), 10.0, 0)
    SpecQueue().create_run(
        "manual__alice_specs", [cell], spec_list="specs.yaml", workdir=str(tmp_path), created_by="user:alice"
    )
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", tmp_path.as_uri())
    assert _ids(alice.get("/specs/runs"), "runs", "run_id") == {"manual__alice_specs"}
    assert _ids(bob.get("/specs/runs"), "runs", "run_id") == set()
    assert bob.get("/specs/runs/manual__alice_specs").status_code == 404
    assert bob.get("/ui/specs/manual__alice_specs").status_code == 404
    assert bob.get("/ui/specs/manual__alice_specs/files/report.html").status_code == 404
    assert alice.get("/specs/runs/manual__alice_specs").status_code == 200
    assert admin.get("/specs/runs/manual__alice_specs").status_code == 200
    # the overview's cards (each domain's overview(scope) in ui/screens) show the same objects as the lists
    alices, bobs, admins = (client.get("/ui") for client in (alice, bob, admin))
    assert alices.status_code == bobs.status_code == admins.status_code == 200
    assert "T-ALICE" in alices.text and "manual__alice_specs" in alices.text
    assert "T-ALICE" not in bobs.text and "manual__alice_specs" not in bobs.text
    assert "T-SCHEDULED" in admins.text and "T-SCHEDULED" not in alices.text
