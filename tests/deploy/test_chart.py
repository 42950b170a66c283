"""The official Airflow chart rendered with ``helm-values.yaml`` by Helm's own engine, as DEPLOY.md installs it.

Every ``helm install|upgrade|template … apache-airflow/airflow`` command in DEPLOY.md is rendered (the install,
the upgrade, the CeleryExecutor variant) with the chart archive of the shared folder, and the result checked as
a reviewer of Helm charts would: ``helm lint --strict``, ``kubernetes-validate --strict`` against the
Kubernetes version the docs target, NOTES without warnings, the Airflow 3 components with the promised replicas,
the create-user Job, stable secrets, the pod-launcher RBAC, Courier's connections and settings in every
component, its schema migrated before its code serves, resources, the image. See tests/deploy/helm.py.
"""

from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from courier.config import SETTINGS
from courier.config import load as load_courier_config
from tests.deploy.helm import (
    CHART_REF,
    HELM_VALUES,
    PLACEHOLDER,
    REPO,
    HelmCommand,
    Render,
    chart_metadata,
    docs_create_secret_key,
    docs_helm_commands,
    install_command,
    kubernetes_validate,
    lint,
    pod_spec,
    render,
    render_text,
    target_kubernetes_version,
)

COMPONENTS = {  # workload name suffix -> (main container, airflow sub-command)
    "api-server": ("api-server", "api-server"),
    "scheduler": ("scheduler", "scheduler"),
    "dag-processor": ("dag-processor", "dag-processor"),
    "triggerer": ("triggerer", "triggerer"),
}
CELERY_WORKER = ("worker", "worker", "celery worker")
# Settings a deployment must set: their defaults suit `courier up` on one machine, not a cluster.
MUST_SET = ("storage_base", "execution_mode", "worker_image", "namespace", "webhook_secret")
# The in-cluster Kubernetes API: KubernetesHook returns an empty connection for a missing kubernetes_default,
# which means in-cluster configuration with the pod's service account (not a secret).
IN_CLUSTER_CONNECTIONS = {"kubernetes_default"}


def values() -> dict[str, Any]:
    data = yaml.safe_load(HELM_VALUES.read_text())
    assert isinstance(data, dict)
    return data


def commands() -> list[HelmCommand]:
    found = docs_helm_commands()
    assert found, f"DEPLOY.md has no `helm install … {CHART_REF}` command"
    return found


def celery_command() -> HelmCommand:
    celery = [c for c in commands() if any(a.replace(" ", "") == "executor=CeleryExecutor" for a in c.value_args)]
    assert celery, "DEPLOY.md should give the exact command for CeleryExecutor (`--set executor=CeleryExecutor`)"
    return celery[0]


@pytest.fixture(params=range(3), ids=["install", "upgrade", "celery"])
def rendered(request: pytest.FixtureRequest) -> Render:
    """The install, the upgrade and the CeleryExecutor command of DEPLOY.md, rendered."""
    index = request.param
    if index == 0:
        return render(install_command())
    if index == 1:
        upgrades = [c for c in commands() if c.verb == "upgrade"]
        assert upgrades, "DEPLOY.md should show the upgrade command"
        return render(upgrades[0])
    return render(celery_command())


def is_celery(rendered: Render) -> bool:
    return any(a == "executor=CeleryExecutor" for a in rendered.command.value_args)


# --- the commands ---------------------------------------------------------------------------------------------


def test_docs_pin_the_chart_version_in_every_helm_command() -> None:
    version = str(chart_metadata()["version"])
    for command in commands():
        assert command.version == version, f"{command.text!r} should pin --version {version}"
        assert command.namespace == "airflow", command.text
        assert "-f" in command.value_args or "--values" in command.value_args, command.text
        assert "helm-values.yaml" in command.value_args, command.text


def test_helm_lint_strict_is_clean() -> None:
    for command in (install_command(), celery_command()):
        result = lint(command)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "[WARNING]" not in output and "[ERROR]" not in output, output


def test_every_object_is_valid_for_the_targeted_kubernetes(rendered: Render, tmp_path: Path) -> None:
    objects = list(rendered.objects)
    template = rendered.pod_template()
    if template is not None:  # the KubernetesExecutor's worker pod, as the scheduler will submit it
        objects.append(template)
    result = kubernetes_validate(objects, target_kubernetes_version(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_notes_have_no_warnings(rendered: Render) -> None:
    assert rendered.notes.strip(), "no NOTES rendered"
    assert "WARNING" not in rendered.notes, rendered.notes


def test_no_deprecated_keys_in_the_values() -> None:
    data = values()
    assert "serviceAccount" not in data.get("workers", {}), "workers.serviceAccount is deprecated since 1.19"
    assert "defaultUser" not in data.get("webserver", {}), "webserver.defaultUser moved to createUserJob.defaultUser"
    assert "replicas" not in data.get("workers", {}), "workers.replicas is deprecated: workers.celery.replicas"
    for command in commands():
        assert not any(a.startswith("webserver.defaultUser") for a in command.value_args), command.text


# --- components -----------------------------------------------------------------------------------------------


def _workload(rendered: Render, component: str) -> dict[str, Any]:
    release = rendered.command.release
    matches = [
        o
        for o in rendered.objects
        if o["kind"] in ("Deployment", "StatefulSet") and o["metadata"]["name"] == f"{release}-{component}"
    ]
    assert matches, f"{component} is not rendered"
    return matches[0]


def _container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [c for c in spec.get("containers", []) if c["name"] == name]
    assert matches, f"no container {name}; have {[c['name'] for c in spec.get('containers', [])]}"
    return matches[0]


def _promised(*path: str) -> int:
    node: Any = values()
    for key in path:
        node = node[key]
    return int(node)


def test_airflow_3_components_with_the_promised_replicas(rendered: Render) -> None:
    promised = {
        "api-server": _promised("apiServer", "replicas"),
        "scheduler": _promised("scheduler", "replicas"),
        "dag-processor": _promised("dagProcessor", "replicas"),
        "triggerer": _promised("triggerer", "replicas"),
    }
    assert promised["api-server"] >= 2 and promised["triggerer"] >= 2 and promised["scheduler"] >= 1
    for component, (container, subcommand) in COMPONENTS.items():
        workload = _workload(rendered, component)
        assert workload["spec"]["replicas"] == promised[component], component
        args = " ".join(_container(pod_spec(workload), container).get("args", []))
        assert subcommand in args, f"{component} runs {args!r}"
    workers = [o for o in rendered.workloads() if o["metadata"]["name"] == f"{rendered.command.release}-worker"]
    if is_celery(rendered):
        assert workers, "CeleryExecutor but no Celery workers"
        assert workers[0]["spec"]["replicas"] == _promised("workers", "celery", "replicas")
        args = " ".join(_container(pod_spec(workers[0]), "worker").get("args", []))
        assert "celery worker" in args, args
    else:
        assert not workers, "KubernetesExecutor should not deploy Celery workers"
        assert rendered.pod_template() is not None, "KubernetesExecutor without a worker pod template"
        assert "KubernetesExecutor" in rendered.config_map()["data"]["airflow.cfg"]


HOUSEKEEPING = {  # the small periodic tasks that must not start a pod each
    "stats_rollup": {"rollup", "prune", "gauges"},
    "courier_retention": {"clean"},
    "delayed_request_sweep": {"sweep", "start_delayed_request"},
    "report_collector": {"collect_report"},
    "webhook_timers": {"dispatch_1", "dispatch_2"},
}


def test_housekeeping_runs_off_the_pod_per_task_path(rendered: Render, monkeypatch: pytest.MonkeyPatch) -> None:
    """The DAGs parsed with the rendered airflow.cfg (as the dag-processor reads it): with KubernetesExecutor,
    the housekeeping tasks name the LocalExecutor, which the rendered [core] executor lists (they run in the
    scheduler pod), and every other task takes the default (a pod each); with the Celery variant no task names
    an executor (all run on the Celery workers)."""
    from airflow.dag_processing.dagbag import DagBag

    cfg = _airflow_cfg(rendered)
    executors = [e.strip() for e in cfg["core"]["executor"].split(",")]
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", cfg["core"]["executor"])
    for key, value in cfg["courier"].items():
        monkeypatch.setenv(f"AIRFLOW__COURIER__{key.upper()}", value)
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    routed = {
        (dag_id, task.task_id): task.executor
        for dag_id, dag in bag.dags.items()
        for task in dag.tasks
        if task.executor is not None
    }
    if is_celery(rendered):
        assert executors == ["CeleryExecutor"] and routed == {}
        return
    assert executors[0] == "KubernetesExecutor" and "LocalExecutor" in executors
    assert routed == {(d, t): "LocalExecutor" for d, tasks in HOUSEKEEPING.items() for t in tasks}
    scheduler = _container(pod_spec(_workload(rendered, "scheduler")), "scheduler")
    assert scheduler["resources"]["requests"] and scheduler["resources"]["limits"]["memory"]


def test_the_create_user_job_runs_with_a_password_from_a_secret(rendered: Render) -> None:
    jobs = [o for o in rendered.of_kind("Job") if o["metadata"]["name"].endswith("create-user")]
    assert jobs, "no create-user Job rendered: the admin user would never be created"
    container = pod_spec(jobs[0])["containers"][0]
    args = container["args"]
    assert "airflow users create" in " ".join(args)
    password = args[args.index("-p") + 1]
    assert password not in ("admin", PLACEHOLDER, ""), "the admin password must not be a default or a --set value"
    variable = re.fullmatch(r"\$\((\w+)\)", password)
    assert variable, f"the password should be read from the environment as $(VAR), is {password!r}"
    env = {e["name"]: e for e in container.get("env", [])}
    ref = env[variable[1]]["valueFrom"]["secretKeyRef"]
    assert docs_create_secret_key(ref["name"], ref["key"]), f"DEPLOY.md never creates {ref}"


def test_secrets_are_stable_across_renders() -> None:
    """Nothing is generated per render: an upgrade must not rotate the JWT, API or Fernet keys."""
    for command in (install_command(), celery_command()):
        first, second = render_text(command), render_text(command)
        assert first == second, "two renders differ: " + ", ".join(
            sorted(
                {
                    f"{a['kind']}/{a['metadata']['name']}"
                    for a, b in zip(yaml.safe_load_all(first), yaml.safe_load_all(second), strict=False)
                    if a != b and a
                }
            )
        )
    data = values()
    for key in ("jwtSecretName", "apiSecretKeySecretName", "fernetKeySecretName"):
        assert data.get(key), f"{key} should name a secret DEPLOY.md creates"


def test_every_secret_the_render_reads_is_created_by_the_docs(rendered: Render) -> None:
    generated = {o["metadata"]["name"] for o in rendered.of_kind("Secret")}
    missing = set()
    for workload in [*rendered.workloads(), *([rendered.pod_template()] if rendered.pod_template() else [])]:
        spec = pod_spec(workload)
        for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for env in container.get("env", []) or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref["name"] not in generated and not docs_create_secret_key(ref["name"], ref["key"]):
                    missing.add((ref["name"], ref["key"]))
    assert not missing, f"secrets read by the pods that DEPLOY.md never creates: {sorted(missing)}"


# --- RBAC -----------------------------------------------------------------------------------------------------


def _task_pod_service_accounts(rendered: Render) -> set[str]:
    """The service accounts of the pods where tasks (and so KubernetesPodOperator) run."""
    if is_celery(rendered):
        worker = _workload(rendered, "worker")
        return {pod_spec(worker)["serviceAccountName"]}
    template = rendered.pod_template()
    assert template is not None
    return {template["spec"]["serviceAccountName"]}


def test_pod_launcher_rbac_is_bound_to_the_task_pods_account(rendered: Render) -> None:
    needed = {
        ("", "pods"): {"create", "get", "list", "watch", "delete", "patch"},
        ("", "pods/log"): {"get"},
        ("", "pods/exec"): {"create", "get"},
        ("", "events"): {"list"},
    }
    accounts = _task_pod_service_accounts(rendered)
    declared = {o["metadata"]["name"] for o in rendered.of_kind("ServiceAccount")}
    assert accounts <= declared, f"the task pods' service account {accounts} is not rendered"
    granted: dict[tuple[str, str], set[str]] = {}
    roles = {o["metadata"]["name"]: o for o in rendered.of_kind("Role")}
    for binding in rendered.of_kind("RoleBinding"):
        subjects = {s["name"] for s in binding.get("subjects", []) if s["kind"] == "ServiceAccount"}
        if not accounts & subjects or binding["roleRef"]["name"] not in roles:
            continue
        for rule in roles[binding["roleRef"]["name"]]["rules"]:
            for group in rule.get("apiGroups", [""]):
                for resource in rule.get("resources", []):
                    granted.setdefault((group, resource), set()).update(rule.get("verbs", []))
    for resource, verbs in needed.items():
        assert verbs <= granted.get(resource, set()), f"{accounts} may not {sorted(verbs)} {resource}"


# --- Courier in every component ------------------------------------------------------------------------------


def connection_ids_in_code() -> set[str]:
    """Connection ids Courier's code and DAGs use: every string given to a name that holds a connection id."""
    found = set()
    for path in [*(REPO / "plugins" / "courier").rglob("*.py"), *(REPO / "dags").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            pairs: list[tuple[str, ast.AST | None]] = []
            if isinstance(node, ast.Assign):
                pairs = [(t.id, node.value) for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                pairs = [(node.target.id, node.value)]
            elif isinstance(node, ast.keyword) and node.arg:
                pairs = [(node.arg, node.value)]
            elif isinstance(node, ast.Dict):
                pairs = [
                    (k.value, v) for k, v in zip(node.keys, node.values, strict=True) if isinstance(k, ast.Constant)
                ]
            elif isinstance(node, ast.arguments):
                positional = node.posonlyargs + node.args
                pairs = list(
                    zip([a.arg for a in positional[len(positional) - len(node.defaults) :]], node.defaults, strict=True)
                )
                pairs += [(a.arg, d) for a, d in zip(node.kwonlyargs, node.kw_defaults, strict=True)]
            for name, value in pairs:
                name = str(name).lower()
                if not re.search(r"conn_id|default_conn_name", name):
                    continue
                if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value:
                    found.add(value.value)  # an empty default ("no connection named") names none
    return found


def test_connection_ids_found_in_the_code() -> None:
    # A guard for the scan itself: the connections Courier is known to use are found.
    assert connection_ids_in_code() >= {
        "courier_db",
        "aws_default",
        "report_api_default",
        "paged_api_default",
        "jobs_api_default",
        "spec_site_default",
    }


def _airflow_cfg(rendered: Render) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(rendered.config_map()["data"]["airflow.cfg"])
    return parser


def _courier_containers(rendered: Render) -> dict[str, dict[str, Any]]:
    """Every container that runs Courier's code: the components, the workers, the migrations."""
    release = rendered.command.release
    found = {}
    for component, (container, _) in COMPONENTS.items():
        found[component] = _container(pod_spec(_workload(rendered, component)), container)
    if is_celery(rendered):
        found["celery worker"] = _container(pod_spec(_workload(rendered, "worker")), "worker")
    else:
        template = rendered.pod_template()
        assert template is not None
        found["worker pod template"] = _container(template["spec"], "base")
    migrate = rendered.get("Job", f"{release}-run-airflow-migrations")
    found["migration job"] = _container(pod_spec(migrate), "run-airflow-migrations")
    return found


def _mounts_airflow_cfg(container: dict[str, Any]) -> bool:
    return any(m.get("subPath") == "airflow.cfg" for m in container.get("volumeMounts", []))


def test_every_connection_and_courier_setting_in_every_component(rendered: Render) -> None:
    needed = {f"AIRFLOW_CONN_{c.upper()}" for c in connection_ids_in_code() - IN_CLUSTER_CONNECTIONS}
    cfg = _airflow_cfg(rendered)
    from_file = dict(cfg.items("courier")) if cfg.has_section("courier") else {}
    for where, container in _courier_containers(rendered).items():
        env = {e["name"]: e for e in container.get("env", [])}
        missing = sorted(needed - set(env))
        assert not missing, f"{where} lacks the connections {missing}"
        assert _mounts_airflow_cfg(container), f"{where} does not mount airflow.cfg"
        raw = dict(from_file)
        for setting in SETTINGS:
            item = env.get(f"AIRFLOW__COURIER__{setting.key.upper()}")
            if item is None:
                continue
            ref = (item.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                assert docs_create_secret_key(ref["name"], ref["key"]), f"{where}: {ref} never created"
                raw[setting.key] = "whsec_dGVzdC1zZWNyZXQtZm9yLWNoYXJ0LXRlc3Rz" if setting.secret else PLACEHOLDER
            else:
                raw[setting.key] = str(item["value"])
        unset = [key for key in MUST_SET if key not in raw]
        assert not unset, f"{where} does not set [courier] {unset}"
        config = load_courier_config(raw)  # every value as this container sees it, validated by Courier
        assert config.execution_mode == "kubernetes", where
        assert config.storage_base.startswith("s3://"), where
        assert config.namespace == rendered.command.namespace, where
        assert config.worker_image == _airflow_image(rendered), where
        assert config.webhook_allow_private_targets is False, where


def _airflow_image(rendered: Render) -> str:
    """The image the command deploys: the values' default image, with the command's --set tag if any."""
    data = values()
    tag = str(data["defaultAirflowTag"])
    for flag, value in zip(rendered.command.value_args, rendered.command.value_args[1:], strict=False):
        if flag == "--set" and value.startswith("defaultAirflowTag="):
            tag = value.split("=", 1)[1]
    return f"{data['defaultAirflowRepository']}:{tag}"


# --- migrations, resources, image ----------------------------------------------------------------------------


def test_courier_schema_is_migrated_before_new_code_serves(rendered: Render) -> None:
    migrate = rendered.get("Job", f"{rendered.command.release}-run-airflow-migrations")
    script = " ".join(_container(pod_spec(migrate), "run-airflow-migrations")["args"])
    assert "airflow db migrate" in script and "courier db migrate" in script
    assert script.index("airflow db migrate") < script.index("courier db migrate")
    # The chart's migration Job is a post-install/post-upgrade hook: the new pods start before it runs, and the
    # chart's own init container waits only for Airflow's migrations. Each component migrates Courier first.
    serving = [_workload(rendered, c) for c in COMPONENTS]
    if is_celery(rendered):
        serving.append(_workload(rendered, "worker"))
    for workload in serving:
        inits = pod_spec(workload).get("initContainers") or []
        names = [c["name"] for c in inits]
        runs = [" ".join([*c.get("command", []), *c.get("args", [])]) for c in inits]
        courier = [i for i, text in enumerate(runs) if "courier db migrate" in text]
        assert courier, f"{workload['metadata']['name']} starts without Courier's schema migrated"
        init = inits[courier[0]]
        assert init["image"] == _airflow_image(rendered), "migrate with the code that will serve"
        assert "AIRFLOW_CONN_COURIER_DB" in {e["name"] for e in init.get("env", [])}
        if "wait-for-airflow-migrations" in names:
            assert names.index("wait-for-airflow-migrations") < courier[0]


def _all_containers(rendered: Render) -> list[tuple[str, dict[str, Any]]]:
    found = []
    pods = [(o["metadata"]["name"], pod_spec(o)) for o in rendered.workloads()]
    template = rendered.pod_template()
    if template is not None:
        pods.append(("worker pod template", template["spec"]))
    for owner, spec in pods:
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            found.append((f"{owner}/{container['name']}", container))
    return found


def test_every_container_has_resources(rendered: Render) -> None:
    lacking = []
    for where, container in _all_containers(rendered):
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        if not {"cpu", "memory"} <= set(requests) or "memory" not in limits:
            lacking.append(where)
    assert not lacking, f"containers without cpu/memory requests and a memory limit: {lacking}"


def test_the_courier_image_everywhere(rendered: Render) -> None:
    image = _airflow_image(rendered)
    others = []
    for where, container in _all_containers(rendered):
        if container["image"].split(":")[0] in ("apache/airflow", "airflow-courier") and container["image"] != image:
            others.append((where, container["image"]))
    assert not others, f"containers not on {image}: {others}"
    names = {where for where, c in _all_containers(rendered) if c["image"] == image}
    assert any(n.endswith("/api-server") for n in names) and any(n.endswith("/scheduler") for n in names)


def test_the_statsd_exporter_gets_courier_mappings_after_the_charts_own(rendered: Render) -> None:
    """The chart's StatsD exporter reads its mappings from the ``-statsd`` ConfigMap: Courier's
    (``statsd.extraMappings``, docs/DEPLOY.md "Monitoring") must be there, after the chart's own."""
    import yaml

    [config] = [o for o in rendered.of_kind("ConfigMap") if o["metadata"]["name"].endswith("-statsd")]
    mappings = yaml.safe_load(config["data"]["mappings.yml"])["mappings"]
    courier = [m for m in mappings if str(m["match"]).startswith("airflow.courier.")]
    assert courier, "no Courier mapping in the StatsD exporter's configuration"
    assert mappings[-len(courier) :] == courier, "Courier's mappings come after the chart's own"
    names = {m["name"] for m in courier}
    assert {"courier_timers_fired_total", "courier_timers_lateness_seconds", "courier_jobs_status"} <= names
