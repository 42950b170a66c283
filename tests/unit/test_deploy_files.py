"""The deployment files: Dockerfile, docker-compose.yaml and helm-values.yaml.

Neither Docker nor Kubernetes runs here, so each file is checked the way its tool would check it first:
the compose file against the Compose Specification's JSON schema, the Helm values against the values schema
of the official Airflow chart 1.21.0 (the archive tests/deploy renders; merged over the chart's defaults, as
``helm`` does), the Dockerfile by
reading its instructions. Then for what Courier needs from them: the services and components, every
``[courier]`` setting (and its value accepted by ``courier.config``), secrets from secrets, the DAGs in
the image.

The schemas live in the shared folder beside the repository (``COURIER_SHARED_DIR``, default
``<repo>/../shared``). Without them these tests fail: a deployment file nobody validated is not passing.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from courier.config import CourierConfig
from courier.config import load as load_courier_config

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
COMPOSE_FILE = REPO / "docker-compose.yaml"
HELM_VALUES = REPO / "helm-values.yaml"
DEPLOY_DOC = REPO / "docs" / "DEPLOY.md"

BASE_IMAGE = "apache/airflow:3.3.2-python3.11"
COURIER_KEYS = (
    "storage_base",
    "execution_mode",
    "worker_image",
    "namespace",
    "webhook_secret",
    "webhook_allow_private_targets",
)
AIRFLOW_COMPONENTS = {
    "airflow-apiserver": ("api-server", "/api/v2/monitor/health"),
    "airflow-scheduler": ("scheduler", "SchedulerJob"),
    "airflow-dag-processor": ("dag-processor", "DagProcessorJob"),
    "airflow-triggerer": ("triggerer", "TriggererJob"),
}
AIRFLOW_SERVICES = {"airflow-init", *AIRFLOW_COMPONENTS}
CONNECTION_ENV = (
    "AIRFLOW_CONN_COURIER_DB",
    "AIRFLOW_CONN_AWS_DEFAULT",
    "AIRFLOW_CONN_REPORT_API_DEFAULT",
    "AIRFLOW_CONN_PAGED_API_DEFAULT",
)
# Stand-ins for the variables the compose file requires (`${VAR:?message}`); never real secrets.
REQUIRED_VARIABLE_SAMPLES = {
    "AIRFLOW_JWT_SECRET": "jwt-secret-for-tests",
    "AIRFLOW_FERNET_KEY": "Z2V0LWEtcmVhbC1rZXktZm9yLWRlcGxveW1lbnRzLW9r",
    "COURIER_WEBHOOK_SECRET": "whsec_dGVzdC1zZWNyZXQtZm9yLXVuaXQtdGVzdHM=",
}


# --- locating and loading ----------------------------------------------------------------------------


def _shared_dir() -> Path:
    configured = os.environ.get("COURIER_SHARED_DIR")
    return Path(configured).expanduser().resolve() if configured else (REPO.parent / "shared").resolve()


def _require_file(path: Path) -> Path:
    if not path.is_file():
        pytest.fail(
            f"{path} not found. The deployment files are validated against the schemas in the shared folder: "
            "set COURIER_SHARED_DIR to the folder holding schemas/compose-spec.json and "
            "charts/airflow-1.21.0.tgz (default: <repo>/../shared).",
            pytrace=False,
        )
    return path


def _load_json(path: Path) -> dict[str, Any]:
    data = json.loads(_require_file(path).read_text())
    assert isinstance(data, dict), f"{path} is not a JSON object"
    return data


def _load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(_require_file(path).read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


# Loaded inside the tests (not in fixtures), so a missing schema is a test failure, not a setup error.


@functools.cache
def compose_schema() -> dict[str, Any]:
    return _load_json(_shared_dir() / "schemas" / "compose-spec.json")


def _chart_file(name: str) -> str:
    """A file of the official chart archive the deployment pins (the same one tests/deploy renders)."""
    archive = _require_file(_shared_dir() / "charts" / "airflow-1.21.0.tgz")
    with tarfile.open(archive) as chart:
        handle = chart.extractfile(f"airflow/{name}")
        assert handle is not None, f"{archive} has no airflow/{name}"
        return handle.read().decode()


@functools.cache
def chart_schema() -> dict[str, Any]:
    data = json.loads(_chart_file("values.schema.json"))
    assert isinstance(data, dict)
    return data


@functools.cache
def chart_defaults() -> dict[str, Any]:
    data = yaml.safe_load(_chart_file("values.yaml"))
    assert isinstance(data, dict)
    return data


@functools.cache
def compose() -> dict[str, Any]:
    return _load_yaml(COMPOSE_FILE)


@functools.cache
def helm_values() -> dict[str, Any]:
    return _load_yaml(HELM_VALUES)


def chart_values() -> dict[str, Any]:
    """The values the chart renders with: ours merged over its defaults."""
    return _helm_merge(chart_defaults(), helm_values())


def _project_version() -> str:
    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])


def _errors(validator: jsonschema.protocols.Validator, instance: Any) -> list[str]:
    found = [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in validator.iter_errors(instance)
    ]
    return sorted(found)


def _validator_class_for(schema: dict[str, Any]) -> type[jsonschema.protocols.Validator]:
    """The validator of the draft the schema declares (http/https and a trailing '#' do not matter)."""

    def norm(uri: str) -> str:
        return uri.strip().rstrip("#").replace("https://", "http://", 1)

    declared = norm(str(schema.get("$schema", "")))
    drafts: tuple[type[jsonschema.protocols.Validator], ...] = (
        jsonschema.Draft4Validator,
        jsonschema.Draft6Validator,
        jsonschema.Draft7Validator,
        jsonschema.Draft201909Validator,
        jsonschema.Draft202012Validator,
    )
    for cls in drafts:
        if norm(cls.META_SCHEMA["$schema"]) == declared:
            return cls
    pytest.fail(f"the schema declares an unknown draft: {schema.get('$schema')!r}", pytrace=False)


# --- docker-compose.yaml ------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def _interpolate(value: str) -> str:
    """Resolve compose variables the way `docker compose` does with an empty environment plus samples."""

    def resolve(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if op in (":-", "-"):
            return arg
        if name in REQUIRED_VARIABLE_SAMPLES:
            return REQUIRED_VARIABLE_SAMPLES[name]
        raise AssertionError(f"${{{name}}} has neither a default nor a sample value in this test")

    return _VARIABLE.sub(resolve, value.replace("$$", "\0")).replace("\0", "$")


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the KEY=VALUE list form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def test_compose_file_validates_against_the_compose_spec() -> None:
    schema = compose_schema()
    cls = _validator_class_for(schema)
    cls.check_schema(schema)
    assert _errors(cls(schema), compose()) == []


def test_compose_has_postgres_init_and_every_airflow_component() -> None:
    services = compose()["services"]
    missing = {"postgres", *AIRFLOW_SERVICES} - set(services)
    assert not missing, f"services missing from docker-compose.yaml: {sorted(missing)}"
    for name, (command, _) in AIRFLOW_COMPONENTS.items():
        assert services[name]["command"] == command, name
    # Overridable (a local stand-in where no registry can be reached), the official image by default.
    assert services["postgres"]["image"] == "${COURIER_POSTGRES_IMAGE:-postgres:16}"
    assert _interpolate(services["postgres"]["image"]) == "postgres:16"


def test_compose_airflow_containers_are_built_from_the_dockerfile() -> None:
    for name in sorted(AIRFLOW_SERVICES):
        build = compose()["services"][name].get("build")
        assert isinstance(build, dict), f"{name} is not built from the Dockerfile"
        context = (REPO / build.get("context", ".")).resolve()
        assert context == REPO, name
        assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE, name


def test_compose_start_order_and_healthchecks() -> None:
    services = compose()["services"]
    postgres_check = " ".join(services["postgres"]["healthcheck"]["test"])
    assert "pg_isready" in postgres_check and "courier" in postgres_check
    assert services["airflow-init"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["airflow-init"].get("restart") == "no", "a one-shot init must not be restarted"
    for name, (_, health_marker) in AIRFLOW_COMPONENTS.items():
        depends_on = services[name]["depends_on"]
        assert depends_on["airflow-init"]["condition"] == "service_completed_successfully", name
        assert depends_on["postgres"]["condition"] == "service_healthy", name
        test = services[name]["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and health_marker in " ".join(test), name


def test_compose_init_migrates_airflow_then_courier_and_sets_the_admin() -> None:
    init = compose()["services"]["airflow-init"]
    script = "\n".join(init["command"]) if isinstance(init["command"], list) else init["command"]
    assert "airflow db migrate" in script and "courier db migrate" in script
    assert script.index("airflow db migrate") < script.index("courier db migrate")
    assert script.index("airflow db migrate") < script.index("courier pools sync")  # pools live in Airflow's DB
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in script
    env = _environment(init)
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith(".SimpleAuthManager")


_WATCH = """
import os, stat, sys
folder = os.environ["WATCHED_FOLDER"]
def watch(event, args):
    # before a chmod, a rename or the end: no file readable by others may hold the new password
    if event in ("os.chmod", "os.rename", "cpython._PySys_ClearAuditHooks"):
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            info = os.stat(path)
            with open(path) as f:
                holds = os.environ["COURIER_ADMIN_PASSWORD"] in f.read()
            if holds and info.st_mode & 0o077:
                with open(os.path.join(folder, "..", "violations"), "a") as out:
                    out.write(f"{name} {oct(info.st_mode & 0o777)} before {event}\\n")
sys.addaudithook(watch)
"""


def _init_password_script() -> str:
    init = compose()["services"]["airflow-init"]
    script = "\n".join(init["command"]) if isinstance(init["command"], list) else init["command"]
    return script.split("python - <<'PY'\n", 1)[1].split("\nPY", 1)[0]


@pytest.mark.parametrize("existing", [None, '{"admin": "old"}\n'])
def test_compose_init_writes_the_passwords_file_private_from_the_start(tmp_path: Path, existing: str | None) -> None:
    """Security review #23, L3: the passwords file is never readable by others, not even between its write
    and a chmod (the init script runs under umask 022; an audit hook looks at every step)."""
    folder = tmp_path / "courier"
    folder.mkdir()
    target = folder / "simple_auth_manager_passwords.json"
    if existing is not None:
        target.write_text(existing)
        target.chmod(0o644)  # written by an older init: the new content must not land in a readable file
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_WATCH)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(hooks),
        "WATCHED_FOLDER": str(folder),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(target),
        "COURIER_ADMIN_PASSWORD": "the-new-admin-password",
    }
    subprocess.run(
        [sys.executable, "-c", _init_password_script()], env=env, check=True, preexec_fn=lambda: os.umask(0o022)
    )
    violations = (tmp_path / "violations").read_text() if (tmp_path / "violations").exists() else ""
    assert violations == "", violations
    assert target.stat().st_mode & 0o777 == 0o600
    assert json.loads(target.read_text()) == {"admin": "the-new-admin-password"}
    assert [p.name for p in folder.iterdir()] == [target.name]  # no temporary file left


def test_compose_common_airflow_environment() -> None:
    services = compose()["services"]
    for name in sorted(AIRFLOW_SERVICES):
        env = _environment(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", name
        assert env["AIRFLOW__CORE__PARALLELISM"] == "4", name
        assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/", name
        # Secrets come from the environment of whoever runs compose, and are required there.
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${AIRFLOW_JWT_SECRET:?"), name
        assert env["AIRFLOW__CORE__FERNET_KEY"].startswith("${AIRFLOW_FERNET_KEY:?"), name
        assert env["AIRFLOW__COURIER__WEBHOOK_SECRET"].startswith("${COURIER_WEBHOOK_SECRET:?"), name
        courier_db = _interpolate(env["AIRFLOW_CONN_COURIER_DB"])
        assert courier_db.startswith("postgresql://") and courier_db.endswith("@postgres:5432/courier"), name
        for conn in ("AIRFLOW_CONN_REPORT_API_DEFAULT", "AIRFLOW_CONN_PAGED_API_DEFAULT"):
            assert _interpolate(env[conn]), f"{name}: {conn} is empty"
    # The execution API URL names the API server service and the port it listens on in the container.
    assert any(str(p).endswith(":8080") for p in services["airflow-apiserver"]["ports"])


def test_compose_sets_every_courier_setting_to_a_valid_value() -> None:
    for name in sorted(AIRFLOW_SERVICES):
        env = _environment(compose()["services"][name])
        missing = [key for key in COURIER_KEYS if f"AIRFLOW__COURIER__{key.upper()}" not in env]
        assert not missing, f"{name} does not set [courier] {missing}"
        raw = {key: _interpolate(env[f"AIRFLOW__COURIER__{key.upper()}"]) for key in COURIER_KEYS}
        config: CourierConfig = load_courier_config(raw)
        assert config.execution_mode == "local"
        assert config.webhook_allow_private_targets is False
        assert config.storage_base.startswith("file:///")


def test_compose_volumes_from_the_repository_exist() -> None:
    mounted = []
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith(("./", "../")):
                assert (REPO / source).exists(), f"{name} mounts {source}, which is not in the repository"
                mounted.append(source)
    assert "./include/compose/init-courier-db.sql" in mounted


def test_compose_init_sql_creates_the_courier_database() -> None:
    sql = (REPO / "include" / "compose" / "init-courier-db.sql").read_text()
    assert re.search(r"^CREATE DATABASE courier\b", sql, re.MULTILINE)
    # The role's password is read from the postgres container's environment, not written in the file.
    match = re.search(r"^\\getenv (\w+) (\w+)$", sql, re.MULTILINE)
    assert match, "the init SQL should take the courier password from the environment"
    assert f":'{match[1]}'" in sql
    assert match[2] in _environment(compose()["services"]["postgres"])


# --- helm-values.yaml ---------------------------------------------------------------------------------


def _helm_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge values like helm: maps recursively, everything else replaced, null deletes the key."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _helm_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _undeclared_keys(schema: dict[str, Any], node: dict[str, Any], value: Any, path: str) -> Iterator[str]:
    """Keys of ``value`` the schema neither declares nor explicitly allows (a typo passes lax schemas)."""
    node = _resolve(schema, node)
    if isinstance(value, dict) and node.get("type") in ("object", ["object"], None):
        properties = node.get("properties", {})
        extra = node.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                yield from _undeclared_keys(schema, properties[key], item, f"{path}.{key}")
            elif isinstance(extra, dict):
                yield from _undeclared_keys(schema, extra, item, f"{path}.{key}")
            elif extra is not True:
                yield f"{path}.{key}"


_TEMPLATE = re.compile(r"\{\{\s*(\.[A-Za-z_][\w.]*)\s*\}\}")


def _render(text: str, values: dict[str, Any], namespace: str) -> str:
    """Render the simple `{{ .Release.Namespace }}` / `{{ .Values.a.b }}` templates the chart applies to config."""

    def lookup(match: re.Match[str]) -> str:
        path = match[1]
        if path == ".Release.Namespace":
            return namespace
        assert path.startswith(".Values."), f"unsupported template {match[0]!r}"
        node: Any = values
        for part in path.removeprefix(".Values.").split("."):
            node = node[part]
        return str(node)

    rendered = _TEMPLATE.sub(lookup, text)
    assert "{{" not in rendered, f"unrendered template left in {text!r}"
    return rendered


def test_helm_values_validate_against_the_chart_schema() -> None:
    schema = chart_schema()
    assert _validator_class_for(schema) is jsonschema.Draft7Validator
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    assert _errors(validator, chart_defaults()) == [], "the chart's own defaults should validate"
    assert _errors(validator, chart_values()) == []


def test_helm_values_use_only_keys_the_chart_declares() -> None:
    schema = chart_schema()
    assert list(_undeclared_keys(schema, schema, helm_values(), "")) == []


def test_helm_image_and_topology() -> None:
    values = helm_values()
    assert values["airflowVersion"] == BASE_IMAGE.split(":")[1].split("-")[0]
    # The chart's default image, so every Airflow container (the task pod template too) runs it.
    assert values["defaultAirflowRepository"] == "airflow-courier"
    assert values["defaultAirflowTag"] == _project_version()
    assert values["images"]["airflow"]["pullPolicy"] == "IfNotPresent"
    # pod per task by default; Courier's housekeeping on the LocalExecutor in the scheduler (test_chart.py)
    assert values["executor"] == "KubernetesExecutor,LocalExecutor"
    assert values["config"]["courier"]["housekeeping_executor"] == "LocalExecutor"
    assert values["triggerer"]["replicas"] == 2
    assert values["apiServer"]["replicas"] == 2
    # External PostgreSQL: no bundled database, metadata connection from a secret.
    assert values["postgresql"]["enabled"] is False
    assert values["data"]["metadataSecretName"]
    # DAGs come from the image only.
    assert values["dags"]["persistence"]["enabled"] is False
    assert values["dags"]["gitSync"]["enabled"] is False


def test_helm_courier_configuration() -> None:
    config = helm_values()["config"]
    assert config["core"]["load_examples"] == "False"
    courier = config["courier"]
    assert courier["execution_mode"] == "kubernetes"
    assert "webhook_secret" not in courier, "the webhook secret belongs in a Kubernetes secret, not in values"
    assert set(COURIER_KEYS) - {"webhook_secret"} <= set(courier)
    raw = {key: _render(str(value), chart_values(), namespace="airflow") for key, value in courier.items()}
    raw["webhook_secret"] = REQUIRED_VARIABLE_SAMPLES["COURIER_WEBHOOK_SECRET"]
    parsed = load_courier_config(raw)
    assert parsed.storage_base.startswith("s3://")
    assert parsed.namespace == "airflow"
    assert parsed.worker_image == f"airflow-courier:{_project_version()}"
    assert parsed.webhook_allow_private_targets is False


def test_helm_secrets_come_from_courier_secrets() -> None:
    entries = {entry["envName"]: entry for entry in helm_values()["secret"]}
    for name in (*CONNECTION_ENV, "AIRFLOW__COURIER__WEBHOOK_SECRET"):
        assert name in entries, f"{name} is not taken from a Kubernetes secret"
        assert entries[name]["secretName"] == "courier-secrets"
        assert entries[name]["secretKey"] == name


def test_helm_rbac_lets_tasks_launch_pods() -> None:
    # Which account the chart binds, and that the task pods run as it: tests/deploy/test_chart.py on the render.
    values = helm_values()
    assert values["rbac"]["create"] is True
    assert values["allowPodLaunching"] is True


def test_helm_migration_job_also_migrates_courier() -> None:
    script = " ".join(chart_values()["migrateDatabaseJob"]["args"])
    assert "airflow db migrate" in script and "courier db migrate" in script
    assert script.index("airflow db migrate") < script.index("courier db migrate")
    assert script.index("airflow db migrate") < script.index("courier pools sync")  # pools live in Airflow's DB


# --- Dockerfile ---------------------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # Docker drops comment lines inside a continued instruction too
        pending += " " + stripped.removesuffix("\\") if stripped.endswith("\\") else " " + stripped
        if not stripped.endswith("\\"):
            keyword, _, rest = pending.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
            pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def _copies() -> list[tuple[list[str], list[str], str]]:
    """(flags, sources, destination) of every COPY."""
    result = []
    for keyword, rest in _dockerfile_instructions():
        if keyword == "COPY":
            words = rest.split()
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            result.append((flags, paths[:-1], paths[-1]))
    return result


def _dockerfile_arg_defaults() -> dict[str, str]:
    """Defaults of the ARGs declared before the first FROM (the ones a FROM line may use)."""
    defaults: dict[str, str] = {}
    for keyword, rest in _dockerfile_instructions():
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            defaults[name.strip()] = value.strip()
    return defaults


def test_dockerfile_builds_on_the_official_airflow_image() -> None:
    froms = [rest.split()[0] for keyword, rest in _dockerfile_instructions() if keyword == "FROM"]
    assert froms, "no FROM in the Dockerfile"
    # The base is a build argument (a local stand-in where no registry can be reached, tests/deploy) whose
    # default is the official image; every stage starts from it, none from another registry.
    assert froms[-1] == "${AIRFLOW_BASE_IMAGE}"
    assert _dockerfile_arg_defaults()["AIRFLOW_BASE_IMAGE"] == BASE_IMAGE
    assert set(froms) == {"${AIRFLOW_BASE_IMAGE}"}, f"a stage from another image needs a registry: {froms}"
    # The image runs the newest of the tested range: uv.lock's Airflow (the compatibility layer runs the lowest).
    locked = tomllib.loads((REPO / "uv.lock").read_text())["package"]
    version = BASE_IMAGE.split(":")[1].split("-")[0]
    assert next(p["version"] for p in locked if p["name"] == "apache-airflow") == version
    python = BASE_IMAGE.split("-python")[1]
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]["python_version"] == python


def test_dockerfile_copies_the_project_dags_and_include() -> None:
    copies = _copies()
    sources = {
        src.rstrip("/") for flags, srcs, _ in copies if not any(f.startswith("--from") for f in flags) for src in srcs
    }
    assert {"pyproject.toml", "uv.lock", "README.md", "plugins", "dags", "include"} <= sources
    for source in sources:
        assert (REPO / source).exists(), f"the Dockerfile copies {source}, which is not in the repository"
    destinations = {srcs[0].rstrip("/"): dest.rstrip("/") for _, srcs, dest in copies if len(srcs) == 1}
    assert destinations["dags"] == "/opt/airflow/dags"
    assert destinations["include"] == "/tmp/courier-src/include"  # into the wheel (courier/include), not beside


def test_dockerfile_installs_exactly_the_lock_as_the_airflow_user() -> None:
    instructions = _dockerfile_instructions()
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert re.search(r"uv export\b[^&]*--frozen", runs), "dependencies must come from uv.lock, unresolved"
    assert re.search(r"uv export\b[^&]*--no-dev", runs)
    assert "uv pip install" in runs
    envs = " ".join(rest for keyword, rest in instructions if keyword == "ENV")
    assert re.search(r"\bAIRFLOW__CORE__LOAD_EXAMPLES[= ]False\b", envs)
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1] in ("airflow", "50000"), "the image must not end as root"
    assert all(user in ("airflow", "50000") for user in users), "nothing should be installed as root"


# --- docs/DEPLOY.md -----------------------------------------------------------------------------------


def test_deploy_doc_creates_every_secret_key_the_helm_values_read() -> None:
    doc = DEPLOY_DOC.read_text()
    created = set(re.findall(r"kubectl (?:-n \S+ )?create secret generic (\S+)", doc))
    values = helm_values()
    assert values["data"]["metadataSecretName"] in created
    for entry in values["secret"]:
        assert entry["secretName"] in created, f"DEPLOY.md never creates the secret {entry['secretName']}"
        assert f"--from-literal={entry['secretKey']}=" in doc, f"DEPLOY.md never sets {entry['secretKey']}"


def test_no_deployment_path_changes_which_dags_start_paused() -> None:
    """The service DAGs run from creation by their own ``is_paused_upon_creation=False``; the DAGs that call a
    user's upstream on a schedule start paused because compose and the chart keep Airflow's default
    (``dags_are_paused_at_creation = True``), as docs/DEPLOY.md says. Neither file may change that silently."""
    for name, service in compose()["services"].items():
        env = _environment(service)
        assert "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION" not in env, name
    assert "dags_are_paused_at_creation" not in (helm_values()["config"].get("core") or {})
    assert "dags_are_paused_at_creation" not in (chart_values()["config"].get("core") or {})
    for values in (helm_values(), chart_values()):
        for entry in values.get("env") or []:
            assert entry.get("name") != "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"
