"""Settings every test layer shares. Airflow reads AIRFLOW_HOME at import, so this runs first."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="courier-test-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("COURIER_HOME", str(_AIRFLOW_HOME / "courier-home"))
for _key in [k for k in os.environ if k.startswith(("AIRFLOW__COURIER__", "AIRFLOW_CONN_"))]:
    del os.environ[_key]  # a developer's own settings must not leak into tests
os.environ.pop("COURIER_DATABASE_URL", None)

REPO = Path(__file__).resolve().parents[1]
