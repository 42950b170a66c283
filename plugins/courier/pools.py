"""Courier's Airflow pools: their names and sizes from ``[courier]``, and how they are created.

Pools live in Airflow's metadata database, so Courier creates them through Airflow's public CLI
(``airflow pools import``, an upsert: sizes follow the configuration at every run), never by writing that
database: ``courier pools sync`` runs it, and ``courier up``, the compose init step and the chart's
migration Job call ``courier pools sync`` (docs/DEPLOY.md, "Pools").
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from courier.config import CourierConfig


def pools(config: CourierConfig) -> dict[str, dict[str, Any]]:
    """``{name: {"slots", "description", "include_deferred"}}`` of every Courier pool (the import file's shape)."""
    return {
        config.fanout_pool: {
            "slots": config.fanout_pool_slots,
            "description": "Courier: paginated_fanout batches (outbound HTTP fan-out); size: courier fanout_pool_slots",
            "include_deferred": False,
        },
        config.spec_pool: {
            "slots": config.spec_pool_slots,
            "description": "Courier: spec_matrix workers; size: courier spec_pool_slots",
            "include_deferred": False,
        },
    }


def sync(config: CourierConfig, airflow: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Create or resize every Courier pool with ``airflow pools import``; return what was set."""
    wanted = pools(config)
    with tempfile.TemporaryDirectory(prefix="courier-pools-") as folder:
        path = Path(folder) / "pools.json"
        path.write_text(json.dumps(wanted))
        command = airflow or [sys.executable, "-m", "airflow"]  # the Airflow beside this Courier
        subprocess.run([*command, "pools", "import", str(path)], check=True, capture_output=True)
    return wanted
