"""Courier on the other end of its tested range: the built wheel in a fresh environment with the lowest
Airflow and providers ``pyproject.toml`` allows, on the newest Python it allows (tests/compat/env.py).

What runs there: the pins themselves, the unit tests, DAG parsing of the installed bundle, plugin and
provider loading through Airflow's own CLI, and the ``courier up`` stack with a ``courier_selfcheck`` run and
a webhook timer fired (tests/compat/stack_run.py). The stack test needs the heavy lock when run by hand
(``flock /tmp/courier-heavy.lock uv run --frozen pytest tests/compat``).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from tests.compat.env import CompatEnv
from tests.conftest import REPO

HERE = Path(__file__).resolve().parent


def _home(env: CompatEnv) -> dict[str, str]:
    home = Path(tempfile.mkdtemp(prefix="courier-compat-home-"))
    return env.environ(AIRFLOW_HOME=str(home), COURIER_HOME=str(home / "courier"))


def test_the_environment_is_the_bottom_of_the_range(compat_env: CompatEnv) -> None:
    probe = (
        "import json, sys; from importlib.metadata import version; "
        f"names = {sorted(n.split('[')[0] for n in compat_env.pins)!r}; "
        "print(json.dumps({'python': '%d.%d' % sys.version_info[:2], **{n: version(n) for n in names}}))"
    )
    found = compat_env.run([str(compat_env.python), "-c", probe], env=compat_env.environ())
    assert found.returncode == 0, found.stderr
    versions = json.loads(found.stdout)
    assert versions.pop("python") == compat_env.python_version
    assert versions == {name.split("[")[0]: low for name, low in compat_env.pins.items()}
    assert versions["apache-airflow"].startswith("3.2.")  # 3.1's triggerer dies under Courier's triggers


def test_unit_tests_pass(compat_env: CompatEnv) -> None:
    ran = compat_env.run(
        [str(compat_env.python), "-m", "pytest", "tests/unit", "-q", "-p", "no:cacheprovider", "-x"],
        cwd=REPO,
        env=compat_env.environ(),
        timeout=1200,
    )
    assert ran.returncode == 0, ran.stdout[-6000:] + ran.stderr[-2000:]
    assert " passed" in ran.stdout.splitlines()[-1], ran.stdout[-500:]


def test_the_installed_bundle_parses(compat_env: CompatEnv) -> None:
    env = _home(compat_env)
    folder = compat_env.run([str(compat_env.bin / "courier"), "bundle-config", "--path"], env=env)
    assert folder.returncode == 0, folder.stderr
    dags_folder = Path(folder.stdout.strip())
    assert dags_folder.is_relative_to(compat_env.root), f"the DAGs should come from the installed wheel: {dags_folder}"
    probe = (
        "import json, sys\n"
        "try:\n    from airflow.dag_processing.dagbag import DagBag\n"
        "except ImportError:\n    from airflow.models.dagbag import DagBag\n"
        "bag = DagBag(dag_folder=sys.argv[1], include_examples=False)\n"
        "print(json.dumps({'dags': sorted(bag.dag_ids), 'errors': bag.import_errors}))\n"
    )
    parsed = compat_env.run([str(compat_env.python), "-c", probe, str(dags_folder)], env=env)
    assert parsed.returncode == 0, parsed.stderr[-3000:]
    result = json.loads(parsed.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert result["dags"] == sorted(p.stem for p in (REPO / "dags").glob("*.py") if not p.name.startswith("_"))


def test_airflow_loads_the_plugin_and_the_provider(compat_env: CompatEnv) -> None:
    env = _home(compat_env)
    plugins = compat_env.run([str(compat_env.bin / "airflow"), "plugins", "--output", "json"], env=env)
    assert plugins.returncode == 0, plugins.stderr[-3000:]
    loaded = json.loads(plugins.stdout[plugins.stdout.index("[") :])
    courier = next(p for p in loaded if p["name"] == "courier")
    assert "courier.plugin" in json.dumps(courier)
    providers = compat_env.run([str(compat_env.bin / "airflow"), "providers", "list", "--output", "json"], env=env)
    assert providers.returncode == 0, providers.stderr[-3000:]
    listed = {p["package_name"]: p for p in json.loads(providers.stdout[providers.stdout.index("[") :])}
    assert "airflow-courier" in listed, sorted(listed)


def test_the_stack_runs_the_selfcheck_and_fires_a_timer(compat_env: CompatEnv) -> None:
    home = tempfile.mkdtemp(prefix="courier-compat-stack-")
    ran = compat_env.run(
        [str(compat_env.python), str(HERE / "stack_run.py"), home], env=compat_env.environ(), cwd=home, timeout=900
    )
    lines = [line for line in ran.stdout.splitlines() if line.startswith("RESULT ")]
    assert ran.returncode == 0 and lines, ran.stdout[-6000:] + ran.stderr[-4000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["airflow"] == compat_env.pins["apache-airflow"]
    assert result["python"].startswith(compat_env.python_version + ".")
    assert Path(result["dags_folder"]).is_relative_to(compat_env.root)
    assert "courier_selfcheck" in result["dags"] and "webhook_timers" in result["dags"]
    assert result["selfcheck"] == "success", result
    assert result["timer_created"] == 201 and result["timer"] == "delivered", result
    assert result["received"] == [{"origin": "timer", "payload": {"compat": True}}], result
    assert result["leftovers"] == [], result
