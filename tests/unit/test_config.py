from __future__ import annotations

import pytest

from courier import config
from courier.config import CourierConfigError, load


def test_defaults_are_valid_and_local(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("COURIER_HOME", str(tmp_path))
    cfg = load()
    assert cfg.storage_base == (tmp_path / "data").as_uri()
    assert cfg.execution_mode == "local"
    assert cfg.webhook_allow_private_targets is False
    assert cfg.webhook_secret == ""


def test_environment_overrides_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__COURIER__EXECUTION_MODE", "Kubernetes")
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", "s3://bucket/prefix/")
    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_ALLOW_PRIVATE_TARGETS", "yes")
    cfg = load()
    assert cfg.execution_mode == "kubernetes"
    assert cfg.storage_base == "s3://bucket/prefix"
    assert cfg.webhook_allow_private_targets is True


@pytest.mark.parametrize(
    ("key", "value", "accepted"),
    [
        ("execution_mode", "docker", "local | kubernetes"),
        ("storage_base", "gs://bucket", "s3://bucket"),
        ("storage_base", "file://relative/path", "file:///absolute/path"),
        ("storage_base", "s3://", "s3://bucket"),
        ("namespace", "Not_A_Namespace", "RFC 1123"),
        ("worker_image", "has space:tag", "image reference"),
        ("webhook_allow_private_targets", "maybe", "true | false"),
        ("webhook_secret", "plain-secret", "whsec_"),
        ("webhook_retry_schedule", "0,5,soon", "comma-separated delays"),
        ("webhook_retry_schedule", "0,-5", "each finite and >= 0"),
        ("webhook_timeout", "0", "> 0 and <= 300"),
        ("webhook_timeout", "nan", "> 0 and <= 300"),
        ("timer_horizon", "-1", "> 0"),
        ("timer_trigger_queues", "courier_timers_1,bad queue", "queue names"),
    ],
)
def test_invalid_value_names_setting_and_accepted_values(key: str, value: str, accepted: str) -> None:
    with pytest.raises(CourierConfigError) as info:
        load({key: value})
    message = str(info.value)
    assert f"[courier] {key}" in message
    assert accepted in message
    assert info.value.key == key


def test_invalid_secret_is_not_echoed() -> None:
    with pytest.raises(CourierConfigError) as info:
        load({"webhook_secret": "hunter2-not-whsec"})
    assert "hunter2" not in str(info.value)


def test_valid_secret_is_hidden_from_repr() -> None:
    cfg = load({"webhook_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
    assert cfg.webhook_secret.startswith("whsec_")
    assert "whsec_" not in repr(cfg)


def test_every_required_setting_is_declared() -> None:
    keys = {s.key for s in config.SETTINGS}
    assert {
        "storage_base",
        "execution_mode",
        "worker_image",
        "namespace",
        "webhook_secret",
        "webhook_allow_private_targets",
    } <= keys


def test_timer_settings_parse() -> None:
    cfg = load({"webhook_retry_schedule": " 0, 2.5 ,60", "webhook_timeout": "3", "timer_horizon": "3600"})
    assert cfg.webhook_retry_schedule == (0.0, 2.5, 60.0)
    assert cfg.webhook_timeout == 3.0 and cfg.timer_horizon == 3600.0
    assert load({"webhook_retry_schedule": ""}).webhook_retry_schedule == ()  # no retries at all
    assert load({"timer_trigger_queues": " courier_timers_1, courier_timers_2 "}).timer_trigger_queues == (
        "courier_timers_1",
        "courier_timers_2",
    )
    assert load({}).timer_trigger_queues == ()  # any triggerer


@pytest.mark.parametrize("key_bytes", [1, 16, 23])
def test_short_webhook_secret_is_refused_naming_the_setting(key_bytes: int) -> None:
    import base64

    short = "whsec_" + base64.b64encode(b"k" * key_bytes).decode()
    with pytest.raises(CourierConfigError) as info:
        load({"webhook_secret": short})
    message = str(info.value)
    assert "[courier] webhook_secret" in message and "at least 24 bytes" in message
    assert f"{key_bytes} byte(s) of key" in message and short[6:] not in message


def test_webhook_secret_of_24_bytes_is_accepted() -> None:
    import base64

    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    assert load({"webhook_secret": secret}).webhook_secret == secret


def test_one_value_is_checked_the_way_load_checks_it() -> None:
    from courier.config import parse_value
    from courier.storage import storage_base

    assert parse_value("storage_base", "s3://bucket/prefix/") == "s3://bucket/prefix"
    assert parse_value("execution_mode", "Kubernetes") == "kubernetes"
    with pytest.raises(CourierConfigError, match=r"\[courier\] storage_base = 'relative/dir' is invalid"):
        parse_value("storage_base", "relative/dir")
    with pytest.raises(CourierConfigError, match="storage_base"):  # an override given to a task: the same check
        storage_base("relative/dir")
    with pytest.raises(KeyError, match="no_such_key"):
        parse_value("no_such_key", "1")
