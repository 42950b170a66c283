"""Courier's DAG bundle (``courier.bundle``): where the DAGs and the shipped spec suite are, the
``dag_bundle_config_list`` entry ``courier bundle-config`` prints, and spec roots from configuration only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from courier import bundle
from courier.cli import main
from courier.specs.enqueue import resolve_spec_list, spec_roots
from courier.specs.speclist import SpecListError


def test_the_bundle_holds_every_dag_file_and_the_shipped_suite() -> None:
    dags = {p.name for p in bundle.dags_folder().glob("*.py")}
    assert {"courier_selfcheck.py", "webhook_timers.py", "spec_matrix.py"} <= dags
    assert (bundle.include_folder() / "specs" / "specs.json").is_file()
    assert bundle.dags_folder().parent == bundle.include_folder().parent == bundle.project_folder()


def test_entry_is_a_local_bundle_on_the_dag_folder() -> None:
    assert bundle.bundle_entry() == {
        "name": "courier",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(bundle.dags_folder())},
    }


def test_with_courier_keeps_the_default_and_the_teams_bundles() -> None:
    default = json.loads(bundle.with_courier(""))
    assert [b["name"] for b in default] == ["dags-folder", "courier"]
    assert default[0] == {"name": "dags-folder", "classpath": bundle.LOCAL_BUNDLE, "kwargs": {}}
    team = [{"name": "team", "classpath": "x.GitDagBundle", "kwargs": {"tracking_ref": "main"}}]
    stale = {"name": "courier", "classpath": bundle.LOCAL_BUNDLE, "kwargs": {"path": "/old"}}
    again = json.loads(bundle.with_courier(json.dumps([*team, stale])))
    assert again == [*team, bundle.bundle_entry()]  # an older entry replaced, not doubled


def test_cli_prints_the_configured_list_with_courier_added(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    team = [{"name": "team", "classpath": bundle.LOCAL_BUNDLE, "kwargs": {"path": "/srv/dags"}}]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(team))
    assert main(["bundle-config"]) == 0
    assert json.loads(capsys.readouterr().out) == [*team, bundle.bundle_entry()]
    assert main(["bundle-config", "--path"]) == 0
    assert capsys.readouterr().out.strip() == str(bundle.dags_folder())


def test_spec_roots_never_come_from_the_dags_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A folder beside some DAG folder is not a spec root just because [core] dags_folder points next to it.
    (tmp_path / "dags").mkdir()
    (tmp_path / "include" / "specs").mkdir(parents=True)
    planted = tmp_path / "include" / "specs" / "specs.json"
    planted.write_text("{}")
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(tmp_path / "dags"))
    assert spec_roots() == [(bundle.include_folder() / "specs").resolve()]
    with pytest.raises(SpecListError, match="outside the spec roots"):
        resolve_spec_list(str(planted))
    monkeypatch.setenv("AIRFLOW__COURIER__SPEC_ROOTS", str(tmp_path / "include" / "specs"))  # configured: yes
    assert resolve_spec_list(str(planted)) == planted.resolve()
