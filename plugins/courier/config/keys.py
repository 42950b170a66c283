"""Every ``[courier]`` key once: its default, what it means, and which parser of :mod:`courier.config.values`
checks it (``provider_info`` publishes this table to Airflow)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from courier.config.values import (
    MAX_TIMER_HORIZON,
    RETENTION_DOMAINS,
    _batch_size,
    _boolean,
    _days,
    _default_storage_base,
    _execution_mode,
    _executor,
    _host_list,
    _http_url_or_empty,
    _limit_or_off,
    _namespace,
    _path_list,
    _pod_settings,
    _pool_name,
    _positive,
    _positive_or_zero,
    _queue_list,
    _retry_schedule,
    _slots,
    _storage_base,
    _storage_bases,
    _webhook_secret,
    _worker_image,
)


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
