"""The Airflow plugin: mounts the Courier API in the Airflow API server at ``/courier``."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from courier.api.app import create_app
from courier.api.errors import UnroutablePathGuard


class CourierPlugin(AirflowPlugin):
    """Courier's plugin (registered through the ``airflow.plugins`` entry point)."""

    name = "courier"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/courier", "name": "Courier"}]
    fastapi_root_middlewares = [
        {"middleware": UnroutablePathGuard, "args": [], "kwargs": {"prefix": "/courier"}, "name": "courier-paths"}
    ]
