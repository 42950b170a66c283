"""What ``courier up`` writes into its home (courier.runtime.airflow_home), without starting anything."""

from __future__ import annotations

import configparser
import json
import stat
from pathlib import Path

import pytest

from courier.runtime.airflow_home import (
    USERS,
    AirflowSettings,
    Secrets,
    write_airflow_cfg,
    write_env_file,
    write_passwords,
)


def test_airflow_cfg_gives_each_triggerer_its_timer_queue_and_keeps_secrets_private(tmp_path: Path) -> None:
    airflow_home = tmp_path / "airflow"
    airflow_home.mkdir()
    secrets = Secrets.load_or_create(tmp_path / "secrets.json")
    assert Secrets.load_or_create(tmp_path / "secrets.json") == secrets  # generated once, then kept
    settings = AirflowSettings(tmp_path, airflow_home, tmp_path / "dags", 8123, 2, 2)
    write_airflow_cfg(settings, "postgresql+psycopg2://x@127.0.0.1/airflow", secrets)
    path = airflow_home / "airflow.cfg"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(path)
    assert cfg["api"]["base_url"] == "http://127.0.0.1:8123" and cfg["api"]["workers"] == "2"
    assert cfg["core"]["execution_api_server_url"] == "http://127.0.0.1:8123/execution/"
    assert cfg["triggerer"]["queues_enabled"] == "True"
    assert cfg["courier"]["timer_trigger_queues"] == "courier_timers_1,courier_timers_2"
    assert cfg["courier"]["webhook_secret"] == secrets.webhook_secret
    assert cfg["core"]["simple_auth_manager_users"] == ",".join(f"{u}:{r}" for u, r in USERS.items())


def test_passwords_are_kept_across_starts_and_env_sh_exports_only_homes_and_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COURIER_ADMIN_PASSWORD", raising=False)
    airflow_home = tmp_path / "airflow"
    airflow_home.mkdir()
    first = write_passwords(tmp_path, airflow_home)
    assert write_passwords(tmp_path, airflow_home) == first
    every = json.loads((airflow_home / "simple_auth_manager_passwords.json").read_text())
    assert set(every) == set(USERS) and every["admin"] == first
    env = {"AIRFLOW_HOME": "/a", "COURIER_HOME": "/c", "AIRFLOW_CONN_X": "http://x", "SECRET_TOKEN": "no"}
    write_env_file(tmp_path / "env.sh", env)
    assert (tmp_path / "env.sh").read_text() == (
        "export AIRFLOW_HOME='/a'\nexport COURIER_HOME='/c'\nexport AIRFLOW_CONN_X='http://x'\n"
    )
