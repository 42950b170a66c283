"""Courier's DAG bundle: the DAG files and the shipped spec suite, wherever this ``courier`` is installed.

The wheel carries the repository's ``dags/`` and ``include/`` inside the package, as ``courier/dags`` and
``courier/include`` (``[tool.hatch.build.targets.wheel.force-include]``); a source checkout (an editable
install, ``courier up`` from the repository) has them at the root of the tree. One copy each, never two.

An existing Airflow adds the DAGs as a ``LocalDagBundle`` whose path is :func:`dags_folder`
(``courier bundle-config`` prints the ``[dag_processor] dag_bundle_config_list`` with that entry added;
docs/DEPLOY.md, "Add Courier to an existing Airflow"). The shipped spec suite is found here too, not from
``[core] dags_folder``: spec roots are :func:`include_folder`'s ``specs/`` plus ``[courier] spec_roots``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BUNDLE_NAME = "courier"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
_PACKAGE = Path(__file__).resolve().parent


def project_folder() -> Path:
    """The folder holding ``dags/`` and ``include/``: the installed package, else the source tree's root."""
    return _PACKAGE if (_PACKAGE / "dags").is_dir() else _PACKAGE.parents[1]


def dags_folder() -> Path:
    """The bundle's DAG folder (one thin file per DAG)."""
    return project_folder() / "dags"


def include_folder() -> Path:
    """The non-Python assets the DAGs and tasks read (the shipped spec suite in ``include/specs/``)."""
    return project_folder() / "include"


def bundle_entry(name: str = BUNDLE_NAME) -> dict[str, Any]:
    """Courier's entry of ``[dag_processor] dag_bundle_config_list``: a LocalDagBundle on :func:`dags_folder`."""
    return {"name": name, "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(dags_folder())}}


def with_courier(current: str | None, name: str = BUNDLE_NAME) -> str:
    """``current`` (a ``dag_bundle_config_list`` value; empty: Airflow's default, the ``dags-folder`` bundle on
    ``[core] dags_folder``) with Courier's entry added, replacing an earlier entry of the same name."""
    bundles: list[dict[str, Any]] = json.loads(current) if current and current.strip() else []
    if not bundles:
        bundles = [{"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}}]
    bundles = [b for b in bundles if b.get("name") != name] + [bundle_entry(name)]
    return json.dumps(bundles)
