"""Provider metadata, as the official providers declare it: connection types (with their Connection form), hooks,
triggers, operators, extra links and the ``[courier]`` configuration section with its types.

Airflow reads it through the ``apache_airflow_provider`` entry point without importing Courier's hooks (the form
comes from ``conn-fields`` / ``ui-field-behaviour``), so ``airflow providers hooks|triggers|links`` list Courier's
and the Connection form knows every extra a Courier hook reads (:mod:`courier.connections`).
"""

from __future__ import annotations

from typing import Any

from courier import __version__
from courier.config import SECTION, SETTINGS, Setting
from courier.connections import CONNECTION_TYPES

INTEGRATION = "Courier"

HOOK_MODULES = ("courier.reports.hook", "courier.pages.hook", "courier.jobs.hook", "courier.db.hook")
TRIGGER_MODULES = ("courier.reports.trigger", "courier.jobs.trigger", "courier.timers.trigger")
OPERATOR_MODULES = (
    "courier.reports.operators",
    "courier.pages.operators",
    "courier.pages.pod",
    "courier.jobs.operators",
    "courier.timers.operators",
    "courier.specs.operators",
    "courier.specs.pod",
)
EXTRA_LINKS = (
    "courier.links.TimerLink",
    "courier.links.JobsLink",
    "courier.links.ReportCollectionLink",
    "courier.links.FanoutManifestLink",
    "courier.links.SpecMatrixLink",
)
"""Every operator link class (``airflow providers links``); :mod:`courier.links` defines them."""


def config_type(setting: Setting) -> str:
    """The option type Airflow's schema knows (string|boolean|integer|float) of what the key's parser returns
    for its default: a flag is boolean, a number integer (float when its default has a fraction), the rest
    string (URLs, lists, names)."""
    value = setting.parse(setting.default_text())
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "integer" if float(value).is_integer() else "float"
    return "string"


def _config_section() -> dict[str, Any]:
    options: dict[str, Any] = {}
    for setting in SETTINGS:
        options[setting.key] = {
            "description": setting.description,
            "version_added": "0.1.0",
            "type": config_type(setting),
            "example": None,
            # Callable defaults depend on COURIER_HOME; config.load() fills them in at read time.
            "default": None if callable(setting.default) else setting.default,
            "sensitive": setting.secret,
        }
    return {SECTION: {"description": "Courier settings.", "options": options}}


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow reads through the ``apache_airflow_provider`` entry point."""
    return {
        "package-name": "airflow-courier",
        "name": "Courier",
        "description": "Reliable HTTP work on Apache Airflow 3.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "tags": ["protocol", "software"],
            }
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": list(HOOK_MODULES)}],
        "triggers": [{"integration-name": INTEGRATION, "python-modules": list(TRIGGER_MODULES)}],
        "operators": [{"integration-name": INTEGRATION, "python-modules": list(OPERATOR_MODULES)}],
        "connection-types": [conn_type.provider_entry() for conn_type in CONNECTION_TYPES],
        "extra-links": list(EXTRA_LINKS),
        "config": _config_section(),
    }
