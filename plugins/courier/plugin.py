"""The Airflow plugin: mounts the Courier API in the Airflow API server at ``/courier`` and puts Courier's
pages (served by that app under ``/courier/ui``) in Airflow's navigation."""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from courier.api.app import create_app
from courier.api.errors import UnroutablePathGuard
from courier.domains import pages


def ui_views() -> list[dict[str, Any]]:
    """The plugin's UI entries: a nav item per page (:func:`courier.domains.pages`, each shown at
    ``/plugin/<url_route>``), and a "Courier" tab on every DAG run's page.

    Relative ``href``s (no leading slash): Airflow's UI resolves them against its own base URL, so the pages
    keep working when Airflow is served under a sub-path.
    """
    views: list[dict[str, Any]] = [
        {
            "name": page.label,
            "href": f"courier/ui/{page.path}",
            "url_route": page.url_route,
            "category": "Courier",
            "destination": "nav",
        }
        for page in pages()
    ]
    views.append(
        {
            "name": "Courier",
            "href": "courier/ui/run?dag_id={DAG_ID}&run_id={RUN_ID}",
            "url_route": "courier-run",
            "destination": "dag_run",
        }
    )
    return views


class CourierPlugin(AirflowPlugin):
    """Courier's plugin (registered through the ``airflow.plugins`` entry point)."""

    name = "courier"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/courier", "name": "Courier"}]
    external_views = ui_views()
    fastapi_root_middlewares = [
        {"middleware": UnroutablePathGuard, "args": [], "kwargs": {"prefix": "/courier"}, "name": "courier-paths"}
    ]
