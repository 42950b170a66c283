"""Every ``[courier]`` setting, its default and its validation, in one place.

Settings are read from Airflow's configuration (``airflow.cfg`` section ``[courier]`` or the
environment, ``AIRFLOW__COURIER__<KEY>``). :func:`load` validates them all at once and raises
:class:`CourierConfigError` naming the setting and the values it accepts, so a bad value fails at
start-up (``courier up``, ``courier db migrate``, the API app, every task) instead of deep inside a run.

``courier.config`` is the import path everything uses; the parts: :mod:`~courier.config.values` (each value's
parser, the error), :mod:`~courier.config.keys` (the table of keys), :mod:`~courier.config.loading` (reading
them through Airflow's configuration).
"""

from courier.config.keys import SETTINGS, Setting
from courier.config.loading import CourierConfig, housekeeping, load, load_one, parse_value
from courier.config.values import (
    EXECUTION_MODES,
    MAX_TIMER_HORIZON,
    MIN_WEBHOOK_KEY_BYTES,
    POD_KEYS,
    RETENTION_DOMAINS,
    SECTION,
    CourierConfigError,
    courier_home,
)

__all__ = [
    "EXECUTION_MODES",
    "MAX_TIMER_HORIZON",
    "MIN_WEBHOOK_KEY_BYTES",
    "POD_KEYS",
    "RETENTION_DOMAINS",
    "SECTION",
    "SETTINGS",
    "CourierConfig",
    "CourierConfigError",
    "Setting",
    "courier_home",
    "housekeeping",
    "load",
    "load_one",
    "parse_value",
]
