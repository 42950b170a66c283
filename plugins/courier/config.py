"""Every ``[courier]`` setting, its default and its validation, in one place.

Settings are read from Airflow's configuration (``airflow.cfg`` section ``[courier]`` or the
environment, ``AIRFLOW__COURIER__<KEY>``). :func:`load` validates them all at once and raises
:class:`CourierConfigError` naming the setting and the values it accepts, so a bad value fails at
start-up (``courier up``, ``courier db migrate``, the API app, every task) instead of deep inside a run.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Setting:
    """One ``[courier]`` key: its default, what it means, and how its raw text is checked."""

    key: str
    default: str | Callable[[], str]
    description: str
    parse: Callable[[str], Any] = field(default=str)
    secret: bool = False

    def default_text(self) -> str:
        return self.default() if callable(self.default) else self.default


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


def housekeeping() -> dict[str, str]:
    """The operator arguments of Courier's small periodic tasks (roll-up, retention, sweeps, the report
    request, the dispatchers' start): ``{"executor": [courier] housekeeping_executor}`` when that executor is
    one of Airflow's ``[core] executor`` list, else nothing (the default executor). Read at DAG parse time
    (configuration, not I/O)."""
    from airflow.sdk import conf

    name = load_one("housekeeping_executor")
    configured = [e.strip().split(":")[-1].rsplit(".", 1)[-1] for e in conf.get("core", "executor").split(",")]
    return {"executor": name} if name and name.rsplit(".", 1)[-1] in configured else {}


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

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "storage_base",
        _default_storage_base,
        "Where Courier writes its files: file:///path (default <COURIER_HOME>/data) or s3://bucket/prefix "
        "(through the aws_default connection).",
        _storage_base,
    ),
    Setting(
        "run_storage_bases",
        "",
        "Other storage bases (comma-separated file:///path or s3://bucket/prefix URLs) a run's storage_base "
        "param may name a folder under, besides storage_base. A run may write nowhere else.",
        _storage_bases,
    ),
    Setting(
        "spec_roots",
        "",
        "Comma-separated absolute folders whose spec lists spec_matrix may run, besides the shipped suite "
        "(include/specs/ of the installed Courier bundle). A spec list is code (its specs' run commands run on the workers): a run's spec_list "
        "must be a file under one of these folders (links resolved; none may lead out).",
        _path_list,
    ),
    Setting(
        "execution_mode", "local", "Where fan-out work runs: local (plain tasks) or kubernetes (pods).", _execution_mode
    ),
    Setting(
        "fanout_pool",
        "courier_fanout",
        "Airflow pool of paginated_fanout's fetch_batch tasks (outbound HTTP fan-out: each holds one slot and up "
        "to its run's `concurrency` requests in flight). Created by `courier pools sync`.",
        _pool_name("fanout_pool"),
    ),
    Setting(
        "fanout_pool_slots",
        "16",
        "Slots of fanout_pool: fetch_batch tasks running at once across every run.",
        _slots("fanout_pool_slots"),
    ),
    Setting(
        "spec_pool",
        "courier_specs",
        "Airflow pool of spec_matrix's worker tasks (each runs one browser check at a time). Created by "
        "`courier pools sync`.",
        _pool_name("spec_pool"),
    ),
    Setting(
        "spec_pool_slots",
        "8",
        "Slots of spec_pool: spec workers running at once across every run.",
        _slots("spec_pool_slots"),
    ),
    Setting(
        "housekeeping_executor",
        "",
        "Executor of Courier's small periodic tasks (stats roll-up and retention, the jobs sweep, the report "
        "collector, the timer dispatchers' start) when Airflow runs several executors, e.g. LocalExecutor "
        "beside KubernetesExecutor so they do not start a pod each. Used only when it is one of [core] "
        "executor; empty: the default executor.",
        _executor,
    ),
    Setting(
        "pages_pod",
        "",
        "How paginated_fanout's batch pods fit the cluster (kubernetes mode), a JSON object: service_account, "
        "resources ({requests, limits}), node_selector, tolerations, affinity, image_pull_secrets (names), "
        "pod_template_file (an absolute path in the image). Empty or unset keys: Courier's defaults.",
        _pod_settings("pages_pod"),
    ),
    Setting(
        "specs_pod",
        "",
        "How spec_matrix's worker pods fit the cluster (kubernetes mode): the same JSON object as pages_pod.",
        _pod_settings("specs_pod"),
    ),
    Setting("worker_image", "airflow-courier:0.1.0", "Image of the pods started in kubernetes mode.", _worker_image),
    Setting("namespace", "airflow", "Kubernetes namespace of the pods started in kubernetes mode.", _namespace),
    Setting(
        "webhook_secret",
        "",
        "Standard Webhooks signing secret ('whsec_<base64>') for timer deliveries.",
        _webhook_secret,
        secret=True,
    ),
    Setting(
        "webhook_allow_private_targets",
        "false",
        "Allow webhook targets on private, loopback and link-local addresses (true only for local demos).",
        _boolean("webhook_allow_private_targets"),
    ),
    Setting(
        "webhook_allowed_hosts",
        "",
        "Comma-separated hosts webhook targets (timers, job callbacks) must be on; '*.example.com' matches "
        "sub-domains. Empty: any host that passes the private-address rule.",
        _host_list,
    ),
    Setting(
        "webhook_retry_schedule",
        "0,5,300,1800,7200,18000,36000,36000",
        "Delays (seconds) before each retry of a failed webhook delivery; when they run out the timer is "
        "failed. The default is Standard Webhooks': immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.",
        _retry_schedule,
    ),
    Setting(
        "webhook_timeout",
        "15",
        "Seconds a webhook delivery may take (connect to last byte) before it counts as failed and is retried.",
        _positive("webhook_timeout", 300),
    ),
    Setting(
        "webhook_dns_timeout",
        "3",
        "Seconds the API waits, in all, for the name lookups of one request's webhook URLs (timers, job callback "
        "URLs); a name not answered by then is refused with a 422. Lookups run on the event loop, never in a thread.",
        _positive("webhook_dns_timeout", 60),
    ),
    Setting(
        "timer_horizon",
        str(30 * 24 * 3600),
        "How far ahead (seconds) a timer may be scheduled; default 30 days.",
        _positive("timer_horizon", MAX_TIMER_HORIZON),
    ),
    Setting(
        "timer_trigger_queues",
        "",
        "Comma-separated trigger queues of the webhook_timers dispatchers (the n-th dispatcher uses the n-th), "
        "with [triggerer] queues_enabled and one triggerer per queue (`airflow triggerer --queues default,<q>`), "
        "so each dispatcher lives on its own triggerer. Empty: any triggerer.",
        _queue_list,
    ),
    Setting(
        "job_timeout",
        "900",
        "Seconds one attempt of a delayed-request job may take at the processor before it counts as failed "
        "(retried once, then the job is failed).",
        _positive("job_timeout", 7 * 24 * 3600),
    ),
    Setting(
        "job_max_upload_bytes",
        str(100 * 1024 * 1024),
        "Largest file POST /courier/jobs/files accepts (bytes); larger uploads are refused with 413.",
        _positive("job_max_upload_bytes", 1024**4),
    ),
    Setting(
        "job_upload_quota_bytes",
        str(50 * 1024**3),
        "Most bytes of pushed files (POST /courier/jobs/files) stored in the last 24 hours, all users together; an "
        "upload that would pass it is refused with 413, nothing stored. 0: no quota.",
        _limit_or_off("job_upload_quota_bytes", 1024**5, "bytes"),
    ),
    Setting(
        "timer_create_rate",
        "10000",
        "Timers one user may create per minute through POST /courier/timers and /courier/timers/batch, per API "
        "server process (a batch counts each of its timers); past it the API answers 429 with Retry-After. "
        "0: no limit.",
        _limit_or_off("timer_create_rate", 10**9, "timers per minute"),
    ),
    Setting(
        "api_max_body_bytes",
        str(16 * 1024 * 1024),
        "Largest JSON body of POST /courier/timers, /courier/timers/batch and /courier/jobs (bytes; 413 past it). "
        "The default holds a batch of 1000 timers whose payloads and headers average up to 16 KiB.",
        _positive("api_max_body_bytes", 1024**3),
    ),
    Setting(
        "stats_raw_retention",
        "600",
        "Seconds raw stats events are kept once their minute is rolled up (never dropped before); events "
        "older than this are refused at ingest.",
        _positive("stats_raw_retention", 7 * 24 * 3600),
    ),
    Setting(
        "stats_rollup_retention",
        str(30 * 24 * 3600),
        "Seconds per-minute stats roll-ups are kept (default 30 days).",
        _positive("stats_rollup_retention", 10 * 365 * 24 * 3600),
    ),
    Setting(
        "stats_max_batch_events",
        "10000",
        "Most events one POST /courier/stats may carry (422 past it).",
        _positive("stats_max_batch_events", 1_000_000),
    ),
    Setting(
        "stats_max_body_bytes",
        str(8 * 1024 * 1024),
        "Largest POST /courier/stats body in bytes (413 past it).",
        _positive("stats_max_body_bytes", 1024**3),
    ),
    Setting(
        "retention_days",
        "30",
        "Days Courier keeps what is finished — delivered, failed, cancelled or expired timers and their attempts; "
        "final jobs, their attempts and stored results; closed report tickets; finished spec runs with their "
        "cells, attempts and artifacts — before the courier_retention DAG (daily) deletes it. Nothing still open "
        "is ever deleted. Each domain may keep its own: <domain>_retention_days.",
        _days("retention_days"),
    ),
    *(
        Setting(
            f"{domain}_retention_days",
            "",
            f"Days finished {domain} are kept; empty: retention_days.",
            _days(f"{domain}_retention_days", empty_ok=True),
        )
        for domain in RETENTION_DOMAINS
    ),
    Setting(
        "job_upload_expiry_days",
        "1",
        "Days a file pushed with POST /courier/jobs/files is kept while no job names it (it is deleted with the "
        "last job that names it once that job is past jobs_retention_days). The size of one upload is limited "
        "by job_max_upload_bytes.",
        _days("job_upload_expiry_days"),
    ),
    Setting(
        "retention_batch_size",
        "1000",
        "Rows retention deletes per transaction (short transactions: no long lock on a table the API writes).",
        _batch_size,
    ),
    Setting(
        "retention_batch_pause",
        "0.1",
        "Seconds retention waits between two batches, leaving the database to live work (bench/retention.py: "
        "without it a clean of 1 M timers raised the lateness p99 of timers firing meanwhile 18x on 2 cores).",
        _positive_or_zero("retention_batch_pause", 60),
    ),
    Setting(
        "job_file_base_url",
        "",
        "Root URL of the API server as the job processor reaches it, for the signed URLs of pushed files "
        "(file:// storage); empty: [api] base_url. docker compose sets it to the API server's service name.",
        _http_url_or_empty,
    ),
)


@dataclass(frozen=True)
class CourierConfig:
    """Validated ``[courier]`` settings."""

    storage_base: str
    execution_mode: str
    worker_image: str
    namespace: str
    webhook_secret: str = field(repr=False)
    webhook_allow_private_targets: bool
    webhook_retry_schedule: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    webhook_timeout: float = 15.0
    webhook_dns_timeout: float = 3.0
    timer_horizon: float = 30 * 24 * 3600.0
    webhook_allowed_hosts: tuple[str, ...] = ()
    timer_trigger_queues: tuple[str, ...] = ()
    job_timeout: float = 900.0
    job_max_upload_bytes: float = 100 * 1024 * 1024
    job_upload_quota_bytes: float = 50 * 1024**3
    timer_create_rate: float = 10_000
    api_max_body_bytes: float = 16 * 1024 * 1024
    stats_raw_retention: float = 600.0
    stats_rollup_retention: float = 30 * 24 * 3600.0
    stats_max_batch_events: float = 10_000
    stats_max_body_bytes: float = 8 * 1024 * 1024
    spec_roots: tuple[str, ...] = ()
    run_storage_bases: tuple[str, ...] = ()
    job_file_base_url: str = ""
    retention_days: float = 30.0
    timers_retention_days: float | None = None
    jobs_retention_days: float | None = None
    reports_retention_days: float | None = None
    specs_retention_days: float | None = None
    job_upload_expiry_days: float = 1.0
    retention_batch_size: int = 1000
    retention_batch_pause: float = 0.1

    def retention_for(self, domain: str) -> float:
        """Days the finished objects of ``domain`` (one of :data:`RETENTION_DOMAINS`) are kept."""
        override: float | None = getattr(self, f"{domain}_retention_days")
        return self.retention_days if override is None else override

    fanout_pool: str = "courier_fanout"
    fanout_pool_slots: int = 16
    spec_pool: str = "courier_specs"
    spec_pool_slots: int = 8
    housekeeping_executor: str = ""
    pages_pod: dict[str, Any] = field(default_factory=dict)
    specs_pod: dict[str, Any] = field(default_factory=dict)


def _raw_value(setting: Setting) -> str:
    from airflow.sdk import conf

    value = conf.get(SECTION, setting.key, fallback=None)
    return setting.default_text() if value is None else str(value)


def _setting(key: str) -> Setting:
    for setting in SETTINGS:
        if setting.key == key:
            return setting
    raise KeyError(f"no [courier] setting {key!r}")


def parse_value(key: str, raw: str) -> Any:
    """Validate ``raw`` as a value of the ``[courier]`` setting ``key`` (an override given to a task or CLI);
    return it parsed, or raise :class:`CourierConfigError` naming the key."""
    return _setting(key).parse(raw)


def load_one(key: str) -> Any:
    """Read and validate one ``[courier]`` setting: for hot paths, where :func:`load` (every setting, some of
    them slow to check) is too much (``POST /courier/stats`` reads its limits this way)."""
    setting = _setting(key)
    return setting.parse(_raw_value(setting))


def load(overrides: dict[str, str] | None = None) -> CourierConfig:
    """Read and validate every ``[courier]`` setting; ``overrides`` replace raw values (for tests and CLIs)."""
    overrides = overrides or {}
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = overrides[setting.key] if setting.key in overrides else _raw_value(setting)
        values[setting.key] = setting.parse(raw)
    return CourierConfig(**values)
