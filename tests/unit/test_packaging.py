"""The distribution exposes what Airflow and users rely on."""

from __future__ import annotations

from importlib.metadata import entry_points

from courier.config import SETTINGS
from courier.provider_info import get_provider_info


def test_entry_points_are_registered() -> None:
    plugins = {ep.name: ep.value for ep in entry_points(group="airflow.plugins")}
    assert plugins.get("courier") == "courier.plugin:CourierPlugin"
    providers = [ep.value for ep in entry_points(group="apache_airflow_provider")]
    assert "courier.provider_info:get_provider_info" in providers
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("courier") == "courier.cli:main"


def test_provider_info_declares_every_setting() -> None:
    info = get_provider_info()
    assert info["package-name"] == "airflow-courier"
    options = info["config"]["courier"]["options"]
    assert set(options) == {s.key for s in SETTINGS}
    assert options["webhook_secret"]["sensitive"] is True


def test_plugin_mounts_app_at_courier() -> None:
    from courier.plugin import CourierPlugin

    (mount,) = CourierPlugin.fastapi_apps
    assert mount["url_prefix"] == "/courier"
