"""A Pod as ``docker run`` would run it: what the kubelet would do with its one container, minus the cluster.

The translation keeps what decides whether the command works in the image: the image, ``command`` (the
entrypoint) and ``args``, ``workingDir``, every ``env`` entry with ``secretKeyRef`` values looked up in the given
secrets (a missing secret or key fails, as it keeps a real pod from starting), the memory/CPU limits, the
security context (``runAsNonRoot`` checked against the image's user, ``allowPrivilegeEscalation: false``,
dropped capabilities). It refuses what it cannot reproduce (several containers, init containers, ``envFrom``,
volumes, config-map references) instead of silently dropping it. The network is the host's (``--network
host``), so the container reaches upstreams on the host's loopback as a pod reaches Services.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

_MEMORY_UNITS = {"Ki": "k", "Mi": "m", "Gi": "g", "K": "k", "M": "m", "G": "g"}


def pod_dict(pod: Any) -> dict[str, Any]:
    """A ``V1Pod`` (as ``build_pod_request_obj`` returns it) as the JSON the API server would receive."""
    from kubernetes.client import ApiClient

    data = ApiClient().sanitize_for_serialization(pod)
    assert isinstance(data, dict)
    return data


def _memory(quantity: str) -> str:
    match = re.fullmatch(r"(\d+)([KMG]i?)?", quantity)
    assert match, f"memory quantity {quantity!r} is not understood here"
    return match[1] + (_MEMORY_UNITS[match[2]] if match[2] else "")


def _cpus(quantity: str) -> str:
    return str(int(quantity[:-1]) / 1000) if quantity.endswith("m") else str(float(quantity))


def image_user(image: str, docker: str = "docker") -> str:
    out = subprocess.run(
        [docker, "image", "inspect", "--format", "{{json .Config.User}}", image],
        capture_output=True,
        text=True,
        check=True,
    )
    return str(json.loads(out.stdout) or "")


def docker_run_argv(
    pod: Mapping[str, Any],
    secrets: Mapping[str, Mapping[str, str]],
    *,
    docker: str = "docker",
    name: str | None = None,
    extra_args: Sequence[str] = (),
    inspect_image: bool = True,
) -> list[str]:
    """``docker run`` arguments that run the pod's container as the kubelet would (see the module doc).

    ``inspect_image=False`` skips the one look into the image (its user, for ``runAsNonRoot``): for building the
    arguments where no Docker engine runs.
    """
    spec = pod["spec"]
    containers = spec["containers"]
    assert len(containers) == 1, f"one container expected, the pod has {[c['name'] for c in containers]}"
    assert not spec.get("initContainers"), "init containers are not reproduced"
    assert not spec.get("volumes"), f"volumes are not reproduced: {spec.get('volumes')}"
    container = containers[0]
    assert not container.get("envFrom"), "envFrom is not reproduced"
    assert not container.get("volumeMounts"), "volume mounts are not reproduced"
    image = container["image"]
    argv = [docker, "run", "--rm", "--network", "host"]
    if name:
        argv += ["--name", name]
    pod_security = spec.get("securityContext") or {}
    security = container.get("securityContext") or {}
    if pod_security.get("runAsUser") is not None or security.get("runAsUser") is not None:
        argv += ["--user", str(security.get("runAsUser", pod_security.get("runAsUser")))]
    elif security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) and inspect_image:
        user = image_user(image, docker)
        assert user and user.split(":")[0] not in ("root", "0"), (
            f"runAsNonRoot, but {image} runs as {user or 'root'}: the kubelet would refuse to start it"
        )
    if security.get("allowPrivilegeEscalation") is False:
        argv += ["--security-opt", "no-new-privileges"]
    for capability in (security.get("capabilities") or {}).get("drop", []):
        argv += ["--cap-drop", capability]
    limits = (container.get("resources") or {}).get("limits") or {}
    if "memory" in limits:
        argv += ["--memory", _memory(str(limits["memory"]))]
    if "cpu" in limits:
        argv += ["--cpus", _cpus(str(limits["cpu"]))]
    if container.get("workingDir"):
        argv += ["--workdir", container["workingDir"]]
    for env in container.get("env") or []:
        if "valueFrom" not in env:
            argv += ["--env", f"{env['name']}={env.get('value', '')}"]
            continue
        ref = env["valueFrom"].get("secretKeyRef")
        assert ref, f"{env['name']}: only secretKeyRef is reproduced, got {env['valueFrom']}"
        assert ref["name"] in secrets, f"{env['name']} reads secret {ref['name']}, which does not exist"
        assert ref["key"] in secrets[ref["name"]], f"{env['name']} reads key {ref['key']} missing from {ref['name']}"
        argv += ["--env", f"{env['name']}={secrets[ref['name']][ref['key']]}"]
    argv += list(extra_args)
    command, args = container.get("command") or [], container.get("args") or []
    if command:  # Kubernetes' command replaces the image's ENTRYPOINT, args its CMD
        argv += ["--entrypoint", command[0], image, *command[1:], *args]
    else:
        argv += [image, *args]
    return argv
