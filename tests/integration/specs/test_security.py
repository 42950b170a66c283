"""A user who may trigger ``spec_matrix`` chooses parameters, never the commands the workers run, nor what
the cells see of the worker (security review #18, finding 1): real PostgreSQL, the real jobs upload route,
the real worker and cells as real processes."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from courier.specs.enqueue import SpecRunRequest, plan_run
from courier.specs.speclist import SpecListError
from courier.specs.store import SpecQueue
from courier.specs.worker import run_worker
from tests.conftest import REPO
from tests.helpers import api_app

ROOT = str(REPO / "include" / "specs")


def _spec_list(run: list[str]) -> dict[str, Any]:
    return {"browsers": ["chromium"], "viewports": {"desktop": [1280, 800]}, "specs": [{"id": "x", "run": run}]}


def _refused(courier_db: str, run_id: str, spec_list: str) -> str:
    """Plan ``spec_list`` as the DAG's plan task does; return the error, checking nothing was queued."""
    with pytest.raises(SpecListError) as caught:
        plan_run(run_id, SpecRunRequest.from_params({"spec_list": spec_list}), SpecQueue(courier_db))
    assert SpecQueue(courier_db).get_run(run_id) is None
    with pytest.raises(LookupError):
        run_worker(run_id, queue=SpecQueue(courier_db))
    return str(caught.value)


def test_an_uploaded_spec_list_is_refused_and_its_command_never_runs(
    courier_db: str, upload_storage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "MARKER"
    attack = json.dumps(_spec_list(["sh", "-c", f"touch {shlex.quote(str(marker))}"])).encode()
    with TestClient(api_app("user")) as client:  # a user, not an admin: may upload files and trigger runs
        pushed = client.post("/jobs/files", files={"file": ("specs.json", attack, "application/json")})
    assert pushed.status_code == 201, pushed.text
    local = pushed.json()["path"].removeprefix("file://")
    assert Path(local).is_file()
    for given in (local, pushed.json()["path"], f"include/specs/../../../../../../../..{local}"):
        assert f"spec roots ({ROOT})" in _refused(courier_db, "attack", given)
    monkeypatch.setenv("AIRFLOW__COURIER__SPEC_ROOTS", str(upload_storage))  # even a root over the storage: no
    assert "Courier's storage (uploaded files are never spec lists)" in _refused(courier_db, "attack", local)
    assert not marker.exists()

    runs = tmp_path / "runs"  # a base runs may write under (security review #23, L3): storage too
    (runs / "pages").mkdir(parents=True)
    (runs / "pages" / "specs.json").write_bytes(attack)
    monkeypatch.setenv("AIRFLOW__COURIER__RUN_STORAGE_BASES", runs.as_uri())
    monkeypatch.setenv("AIRFLOW__COURIER__SPEC_ROOTS", str(tmp_path))
    written = str(runs / "pages" / "specs.json")
    assert "Courier's storage (uploaded files are never spec lists)" in _refused(courier_db, "attack", written)
    assert not marker.exists()

    deployed = tmp_path / "deployed"  # the same list deployed by a DAG author under a root does run
    deployed.mkdir()
    (deployed / "specs.json").write_bytes(attack)
    monkeypatch.setenv("AIRFLOW__COURIER__SPEC_ROOTS", str(deployed))
    plan_run("deployed", SpecRunRequest.from_params({"spec_list": str(deployed / "specs.json")}), SpecQueue(courier_db))
    assert run_worker("deployed", queue=SpecQueue(courier_db)).statuses == {"passed": 1}
    assert marker.exists()


def test_links_out_of_a_spec_root_are_refused(
    courier_db: str, upload_storage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "MARKER"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "specs.json").write_text(json.dumps(_spec_list(["sh", "-c", f"touch {shlex.quote(str(marker))}"])))
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("AIRFLOW__COURIER__SPEC_ROOTS", str(root))
    (root / "linked.json").symlink_to(outside / "specs.json")
    (root / "folder").symlink_to(outside, target_is_directory=True)
    for given in (root / "linked.json", root / "folder" / "specs.json", root / ".." / "outside" / "specs.json"):
        error = _refused(courier_db, "linked", str(given))
        assert f"resolves to {outside / 'specs.json'}, outside the spec roots" in error
        assert f"spec roots ({ROOT}, {root})" in error
    assert not marker.exists()


def test_a_cell_sees_the_contract_not_the_workers_secrets(
    courier_db: str, upload_storage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {
        "AIRFLOW__API_AUTH__JWT_SECRET": "jwt-secret",
        "AIRFLOW__CORE__FERNET_KEY": "fernet",
        "AIRFLOW_CONN_COURIER_DB": "postgresql://u:p@h/db",
        "COURIER_DATABASE_URL": "postgresql://u:p@h/db",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "SOME_TOKEN": "other",
    }
    for key, value in secrets.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("TZ", "UTC")
    suite = tmp_path / "suite"
    suite.mkdir()
    dump = ["python", "-c", "import json, os; print(json.dumps(dict(os.environ)))"]
    (suite / "specs.json").write_text(json.dumps(_spec_list(dump)))
    monkeypatch.setenv("AIRFLOW__COURIER__SPEC_ROOTS", str(suite))
    queue = SpecQueue(courier_db)
    plan_run("env", SpecRunRequest(spec_list=str(suite / "specs.json"), base_url="http://127.0.0.1:9"), queue)
    assert run_worker("env", queue=queue).statuses == {"passed": 1}
    log = upload_storage / "specs" / "spec_matrix" / "env" / "artifacts" / "x" / "chromium-desktop" / "output.log"
    seen = json.loads(log.read_text().strip().splitlines()[-1])
    assert not set(secrets) & set(seen), sorted(set(secrets) & set(seen))
    assert not [k for k in seen if k.startswith(("AIRFLOW", "AWS_"))]
    assert seen["PATH"] == os.environ["PATH"] and seen["HOME"] == os.environ["HOME"]
    assert (seen["LC_ALL"], seen["TZ"]) == ("C.UTF-8", "UTC")
    assert seen["COURIER_SPEC_ID"] == "x" and seen["COURIER_SPEC_BROWSER"] == "chromium"
    assert seen["COURIER_SPEC_VIEWPORT"] == "desktop" and seen["COURIER_SPEC_VIEWPORT_SIZE"] == "1280x800"
    assert seen["COURIER_SPEC_BASE_URL"] == "http://127.0.0.1:9" and seen["COURIER_SPEC_ATTEMPT"] == "1"
    assert seen["COURIER_SPEC_ARTIFACTS"].endswith("artifacts")


def test_a_storage_base_param_outside_the_configured_base_is_refused(
    courier_db: str, upload_storage: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"storage_base = .* is refused: a run may only write under"):
        plan_run("store", SpecRunRequest.from_params({"storage_base": (tmp_path / "elsewhere").as_uri()}))
    assert SpecQueue(courier_db).get_run("store") is None
    planned = plan_run("store", SpecRunRequest.from_params({"storage_base": (upload_storage / "team").as_uri()}))
    assert planned["workers"][0]["storage_base"] == (upload_storage / "team").as_uri()
