"""The ``[courier]`` settings' values: how each raw text is checked and parsed, and the error naming the key.

Pure functions of the raw text (no Airflow import): :mod:`courier.config.keys` pairs each key with its parser.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

SECTION = "courier"
EXECUTION_MODES = ("local", "kubernetes")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}
_NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_WHSEC_RE = re.compile(r"^whsec_[A-Za-z0-9+/]+={0,2}$")
MIN_WEBHOOK_KEY_BYTES = 24
"""A webhook signing key shorter than this is refused (Standard Webhooks secrets carry 24 to 64 bytes)."""


class CourierConfigError(ValueError):
    """A ``[courier]`` setting has a value Courier cannot use."""

    def __init__(self, key: str, value: object, accepted: str) -> None:
        self.key = key
        super().__init__(f"[{SECTION}] {key} = {value!r} is invalid: accepted values are {accepted}")


def courier_home() -> Path:
    """Return the Courier home directory (``COURIER_HOME``, default ``./.courier``)."""
    return Path(os.environ.get("COURIER_HOME", ".courier")).expanduser().resolve()


def _default_storage_base() -> str:
    return (courier_home() / "data").as_uri()


_HOST_RE = re.compile(r"^(\*\.)?[A-Za-z0-9_.:\[\]-]+$")


def _host_list(raw: str) -> tuple[str, ...]:
    hosts = tuple(h.strip().lower() for h in raw.split(",") if h.strip())
    for host in hosts:
        if not _HOST_RE.match(host):
            raise CourierConfigError("webhook_allowed_hosts", raw, "host names or addresses, comma-separated")
    return hosts


_QUEUE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")


def _queue_list(raw: str) -> tuple[str, ...]:
    queues = tuple(q.strip() for q in raw.split(",") if q.strip())
    if not all(_QUEUE_RE.match(q) for q in queues):
        raise CourierConfigError("timer_trigger_queues", raw, "queue names (letters, digits, _ . -), comma-separated")
    return queues


def _storage_base(raw: str) -> str:
    value = raw.strip().rstrip("/")
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in ("file", "s3") or not value.split("://", 1)[1]:
        raise CourierConfigError("storage_base", raw, "a file:///absolute/path or s3://bucket[/prefix] URL")
    if scheme == "file" and not value.startswith("file:///"):
        raise CourierConfigError("storage_base", raw, "a file:///absolute/path or s3://bucket[/prefix] URL")
    return value


def _path_list(raw: str) -> tuple[str, ...]:
    paths = tuple(p.strip() for p in raw.split(",") if p.strip())
    if not all(Path(p).expanduser().is_absolute() for p in paths):
        raise CourierConfigError("spec_roots", raw, "absolute folder paths, comma-separated")
    return tuple(str(Path(p).expanduser()) for p in paths)


def _limit_or_off(key: str, maximum: float, unit: str) -> Callable[[str], float]:
    """A limit where 0 turns it off."""
    return _positive_or_zero(key, maximum, unit, " (0: no limit)")


def _storage_bases(raw: str) -> tuple[str, ...]:
    try:
        return tuple(_storage_base(part) for part in raw.split(",") if part.strip())
    except CourierConfigError:
        raise CourierConfigError(
            "run_storage_bases", raw, "file:///absolute/path or s3://bucket[/prefix] URLs, comma-separated"
        ) from None


_POOL_RE = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")


def _pool_name(key: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        if not _POOL_RE.match(value):
            raise CourierConfigError(key, raw, "an Airflow pool name (letters, digits, _ . -)")
        return value

    return parse


def _slots(key: str) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = raw.strip()
        if not value.isdigit() or not 1 <= int(value) <= 100_000:
            raise CourierConfigError(key, raw, "a whole number of slots from 1 to 100000")
        return int(value)

    return parse


_EXECUTOR_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*\.)*[A-Za-z_][A-Za-z0-9_]*$")


def _executor(raw: str) -> str:
    value = raw.strip()
    if value and not _EXECUTOR_RE.match(value):
        raise CourierConfigError("housekeeping_executor", raw, "empty or an executor name such as LocalExecutor")
    return value


POD_KEYS = {
    "service_account": str,
    "resources": dict,
    "node_selector": dict,
    "tolerations": list,
    "affinity": dict,
    "image_pull_secrets": list,
    "pod_template_file": str,
}
"""What a ``[courier] <domain>_pod`` setting may give (a JSON object), and the JSON type of each."""


def _pod_settings(key: str) -> Callable[[str], dict[str, Any]]:
    accepted = "a JSON object with " + ", ".join(POD_KEYS) + " (see docs/DEPLOY.md, 'The pods Courier starts')"

    def parse(raw: str) -> dict[str, Any]:
        import json

        try:
            value = json.loads(raw.strip() or "{}")
        except ValueError:
            raise CourierConfigError(key, raw, accepted) from None
        if not isinstance(value, dict) or not set(value) <= set(POD_KEYS):
            raise CourierConfigError(key, raw, accepted)
        for name, kind in POD_KEYS.items():
            if name in value and not isinstance(value[name], kind):
                raise CourierConfigError(key, raw, f"{accepted}; {name} must be a JSON {kind.__name__}")
        resources = value.get("resources", {})
        if not set(resources) <= {"requests", "limits"} or not all(isinstance(v, dict) for v in resources.values()):
            raise CourierConfigError(key, raw, f"{accepted}; resources has requests and limits objects only")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.get("node_selector", {}).items()):
            raise CourierConfigError(key, raw, f"{accepted}; node_selector maps label names to strings")
        if not all(isinstance(s, str) and s for s in value.get("image_pull_secrets", [])):
            raise CourierConfigError(key, raw, f"{accepted}; image_pull_secrets lists secret names")
        if "pod_template_file" in value and not Path(value["pod_template_file"]).is_absolute():
            raise CourierConfigError(key, raw, f"{accepted}; pod_template_file is an absolute path")
        return dict(value)

    return parse


def _execution_mode(raw: str) -> str:
    value = raw.strip().lower()
    if value not in EXECUTION_MODES:
        raise CourierConfigError("execution_mode", raw, " | ".join(EXECUTION_MODES))
    return value


def _worker_image(raw: str) -> str:
    value = raw.strip()
    if not value or any(c.isspace() for c in value):
        raise CourierConfigError("worker_image", raw, "a container image reference such as repo/name:tag")
    return value


def _namespace(raw: str) -> str:
    value = raw.strip()
    if len(value) > 63 or not _NAMESPACE_RE.match(value):
        raise CourierConfigError("namespace", raw, "a Kubernetes namespace name (RFC 1123 label, at most 63 chars)")
    return value


def _webhook_secret(raw: str) -> str:
    value = raw.strip()
    accepted = f"empty or a Standard Webhooks secret 'whsec_<base64>' of at least {MIN_WEBHOOK_KEY_BYTES} bytes of key"
    if not value:
        return value
    if not _WHSEC_RE.match(value):
        raise CourierConfigError("webhook_secret", "<hidden>", accepted)
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        raise CourierConfigError("webhook_secret", "<hidden>", accepted) from None
    if len(key) < MIN_WEBHOOK_KEY_BYTES:
        raise CourierConfigError("webhook_secret", f"<hidden, {len(key)} byte(s) of key>", accepted)
    return value


def _retry_schedule(raw: str) -> tuple[float, ...]:
    accepted = "comma-separated delays in seconds, each finite and >= 0, such as 0,5,300,1800"
    try:
        delays = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise CourierConfigError("webhook_retry_schedule", raw, accepted) from None
    if any(not math.isfinite(d) or d < 0 for d in delays):
        raise CourierConfigError("webhook_retry_schedule", raw, accepted)
    return delays


def _positive(key: str, maximum: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not 0 < value <= maximum:
            raise CourierConfigError(key, raw, f"a number of seconds > 0 and <= {maximum:g}")
        return value

    return parse


RETENTION_DOMAINS = ("timers", "jobs", "reports", "specs")
"""The domains whose rows retention deletes; each may keep its own ``<domain>_retention_days``."""


def _days(key: str, empty_ok: bool = False) -> Callable[[str], float | None]:
    def parse(raw: str) -> float | None:
        if empty_ok and not raw.strip():
            return None
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not 0 < value <= 3650:
            accepted = "a number of days > 0 and <= 3650" + (", or empty (retention_days)" if empty_ok else "")
            raise CourierConfigError(key, raw, accepted)
        return value

    return parse


def _positive_or_zero(key: str, maximum: float, unit: str = "seconds", zero: str = "") -> Callable[[str], float]:
    """A number of ``unit`` from 0 to ``maximum`` (``zero``: what 0 means, for the error message)."""

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not 0 <= value <= maximum:
            raise CourierConfigError(key, raw, f"a number of {unit} >= 0 and <= {maximum:g}{zero}")
        return value

    return parse


def _batch_size(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 100_000:
        raise CourierConfigError("retention_batch_size", raw, "a whole number of rows from 1 to 100000")
    return value


def _http_url_or_empty(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if value and (not value.startswith(("http://", "https://")) or "?" in value or "#" in value):
        raise CourierConfigError("job_file_base_url", raw, "empty or an http(s):// URL without query or fragment")
    return value


def _boolean(key: str) -> Callable[[str], bool]:
    def parse(raw: str) -> bool:
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise CourierConfigError(key, raw, "true | false")

    return parse


MAX_TIMER_HORIZON = 10 * 365 * 24 * 3600
"""The longest ``timer_horizon`` accepted (10 years, in seconds); the timer API states it as the bound of every
duration it takes (``delay_seconds``, ``expire_after_seconds``)."""
