"""Provider metadata: Courier's connection types and its ``[courier]`` configuration section."""

from __future__ import annotations

from typing import Any

from courier import __version__
from courier.config import SECTION, SETTINGS


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow reads through the ``apache_airflow_provider`` entry point."""
    options: dict[str, Any] = {}
    for setting in SETTINGS:
        options[setting.key] = {
            "description": setting.description,
            "version_added": "0.1.0",
            "type": "boolean" if setting.key == "webhook_allow_private_targets" else "string",
            "example": None,
            # Callable defaults depend on COURIER_HOME; config.load() fills them in at read time.
            "default": None if callable(setting.default) else setting.default,
            "sensitive": setting.secret,
        }
    return {
        "package-name": "airflow-courier",
        "name": "Courier",
        "description": "Reliable HTTP work on Apache Airflow 3.",
        "versions": [__version__],
        "config": {SECTION: {"description": "Courier settings.", "options": options}},
    }
