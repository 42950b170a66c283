"""Reading the ``[courier]`` settings through Airflow's configuration: :func:`load` (every key, validated at
once), :func:`load_one`, :func:`parse_value` (an override checked as ``load`` checks it), :func:`housekeeping`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from courier.config.keys import SETTINGS, Setting
from courier.config.values import (
    SECTION,
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


def housekeeping() -> dict[str, str]:
    """The operator arguments of Courier's small periodic tasks (roll-up, retention, sweeps, the report
    request, the dispatchers' start): ``{"executor": [courier] housekeeping_executor}`` when that executor is
    one of Airflow's ``[core] executor`` list, else nothing (the default executor). Read at DAG parse time
    (configuration, not I/O)."""
    from airflow.sdk import conf

    name = load_one("housekeeping_executor")
    configured = [e.strip().split(":")[-1].rsplit(".", 1)[-1] for e in conf.get("core", "executor").split(",")]
    return {"executor": name} if name and name.rsplit(".", 1)[-1] in configured else {}
