"""What ``courier up`` writes into its home for the components: the generated secrets, the users' passwords,
``airflow.cfg`` and ``env.sh``. Every file is written ``0600`` by :mod:`courier.runtime.private`, and each is
written again at every start from what the home keeps (secrets and passwords are generated once).
"""

from __future__ import annotations

import configparser
import io
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from courier.runtime.private import write_private

ADMIN_USER = "admin"
USERS = {ADMIN_USER: "admin", "viewer": "viewer", "service": "user"}
"""SimpleAuthManager users ``courier up`` creates and their Airflow roles: ``viewer`` reads Courier objects
only; ``service`` (role ``user``) may also create and change them (post stats, submit jobs) without admin."""
PARALLELISM = 4  # LocalExecutor pre-forks this many workers; 4 suits a 2-core machine
TIMER_QUEUE = "courier_timers_{}"
"""Trigger queue of the n-th timer dispatcher when ``courier up`` runs several triggerers: triggerer n
consumes ``default`` and this queue, so each dispatcher lives on its own triggerer (docs/timers.md)."""


@dataclass
class Secrets:
    """Generated once per home and kept in ``<home>/secrets.json`` so restarts keep working."""

    fernet_key: str
    jwt_secret: str
    webhook_secret: str

    @classmethod
    def load_or_create(cls, path: Path) -> Secrets:
        if path.exists():
            return cls(**json.loads(path.read_text()))
        import base64

        from cryptography.fernet import Fernet

        made = cls(
            fernet_key=Fernet.generate_key().decode(),
            jwt_secret=secrets.token_urlsafe(32),
            webhook_secret="whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        )
        write_private(path, json.dumps(made.__dict__))
        return made


def write_passwords(home: Path, airflow_home: Path) -> str:
    """Write the users' passwords (the admin's from ``COURIER_ADMIN_PASSWORD``, else kept in
    ``<home>/admin-password``; the others' in ``<home>/user-passwords.json``) and SimpleAuthManager's
    passwords file; return the admin's."""
    path = home / "admin-password"
    password = os.environ.get("COURIER_ADMIN_PASSWORD") or (
        path.read_text().strip() if path.exists() else secrets.token_urlsafe(12)
    )
    write_private(path, password + "\n")
    others_path = home / "user-passwords.json"
    others = json.loads(others_path.read_text()) if others_path.exists() else {}
    for user in USERS:
        if user != ADMIN_USER:
            others.setdefault(user, secrets.token_urlsafe(12))
    write_private(others_path, json.dumps(others, indent=2) + "\n")
    write_private(airflow_home / "simple_auth_manager_passwords.json", json.dumps({ADMIN_USER: password, **others}))
    return password


@dataclass(frozen=True)
class AirflowSettings:
    """What ``airflow.cfg`` is written from: the stack's folders, its API server and its component counts."""

    home: Path
    airflow_home: Path
    dags_folder: Path
    port: int
    api_workers: int
    triggerers: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def write_airflow_cfg(settings: AirflowSettings, metadata_url: str, stack_secrets: Secrets) -> None:
    """Write ``<airflow home>/airflow.cfg``: LocalExecutor, SimpleAuthManager with :data:`USERS`, the secrets,
    and ``[courier]`` (storage under the home, local execution, the webhook secret, trigger queues)."""
    airflow_home = settings.airflow_home
    cfg = configparser.ConfigParser(interpolation=None)
    cfg["core"] = {
        "dags_folder": str(settings.dags_folder),
        "plugins_folder": str(airflow_home / "plugins"),
        "executor": "LocalExecutor",
        "parallelism": str(PARALLELISM),
        "load_examples": "False",
        "dags_are_paused_at_creation": "False",
        "fernet_key": stack_secrets.fernet_key,
        "auth_manager": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "simple_auth_manager_users": ",".join(f"{user}:{role}" for user, role in USERS.items()),
        "simple_auth_manager_passwords_file": str(airflow_home / "simple_auth_manager_passwords.json"),
        "execution_api_server_url": f"{settings.url}/execution/",
        # the Connection form's Test button and `airflow connections test` (Courier's hooks test Courier's rules)
        "test_connection": "Enabled",
    }
    cfg["database"] = {"sql_alchemy_conn": metadata_url}
    cfg["api"] = {
        "host": "127.0.0.1",
        "port": str(settings.port),
        "base_url": settings.url,
        "workers": str(settings.api_workers),
    }
    cfg["api_auth"] = {"jwt_secret": stack_secrets.jwt_secret}
    cfg["dag_processor"] = {"refresh_interval": "30"}
    cfg["scheduler"] = {"enable_health_check": "True"}
    if settings.triggerers > 1:
        # each triggerer consumes `default` and its own timer queue: one dispatcher per triggerer
        cfg["triggerer"] = {"queues_enabled": "True"}
    cfg["courier"] = {
        "storage_base": (settings.home / "data").as_uri(),
        "execution_mode": "local",
        "webhook_secret": stack_secrets.webhook_secret,
        # the demo's webhook receiver listens on loopback
        "webhook_allow_private_targets": "True",
    }
    if settings.triggerers > 1:
        queues = (TIMER_QUEUE.format(n) for n in range(1, settings.triggerers + 1))
        cfg["courier"]["timer_trigger_queues"] = ",".join(queues)
    text = io.StringIO()
    text.write("# Written by `courier up` at every start; put lasting changes in AIRFLOW__* env vars.\n")
    cfg.write(text)
    write_private(airflow_home / "airflow.cfg", text.getvalue())


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """Write lines a user can `source` to run `airflow ...` against this stack from another shell."""
    keys = ["AIRFLOW_HOME", "COURIER_HOME", *(k for k in env if k.startswith("AIRFLOW_CONN_"))]
    exports = {k: env[k] for k in keys if k in env}
    write_private(path, "".join(f"export {k}='{v}'\n" for k, v in exports.items()))
