"""Run inside an Airflow container of the compose stack (``python - < this file``): find every connection id the
DAGs can use and say whether the container's environment defines it. Prints one JSON object.

Connection ids are collected, not listed by hand, from
- the parsed DAGs (``DagBag`` of the image's DAG folder): every task attribute whose name ends in ``conn_id``;
- the ``courier`` package the tasks run: module constants named ``*CONN_ID`` and ``*CONNECTIONS``, parameters
  ending in ``conn_id`` with a default, and hooks' ``default_conn_name``.
A connection only some configurations use says so in ``needed_when``; the check reads the ``[courier]`` settings
to decide whether this stack needs it.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
from typing import Any

found: dict[str, set[str]] = {}


def add(conn_id: Any, source: str) -> None:
    if isinstance(conn_id, str) and conn_id:
        found.setdefault(conn_id, set()).add(source)


def from_dags() -> int:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ.get("COURIER_CHECK_DAGS_FOLDER", "/opt/airflow/dags"))
    assert not bag.import_errors, bag.import_errors
    for dag in bag.dags.values():
        for task in dag.tasks:
            for name, value in vars(task).items():
                if name.endswith("conn_id"):
                    add(value, f"dag {dag.dag_id} task {task.task_id} {name}")
    return len(bag.dags)


def from_package() -> None:
    import courier

    for info in pkgutil.walk_packages(courier.__path__, "courier."):
        if info.name.endswith("__main__"):
            continue  # `python -m` entry points run on import
        try:
            module = importlib.import_module(info.name)
        except ImportError:
            continue  # a module of a missing optional extra (none is needed by a DAG in this image)
        for name, value in vars(module).items():
            if name.endswith("CONN_ID"):
                add(value, f"{info.name}.{name}")
            elif name.endswith("CONNECTIONS") and isinstance(value, tuple | list):
                for item in value:
                    add(item, f"{info.name}.{name}")
            elif (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == info.name:
                add(getattr(value, "default_conn_name", None), f"{info.name}.{name}.default_conn_name")
                members = [value, *(m for _, m in inspect.getmembers(value, inspect.isfunction))]
                for function in members:
                    try:
                        parameters = inspect.signature(function).parameters.values()
                    except (TypeError, ValueError):
                        continue
                    for parameter in parameters:
                        if parameter.name.endswith("conn_id") and parameter.default is not inspect.Parameter.empty:
                            add(parameter.default, f"{info.name}.{name}({parameter.name})")


def main() -> None:
    from airflow.sdk import BaseHook

    from courier.config import load

    dags = from_dags()
    from_package()
    config = load()
    needed_when = {
        "aws_default": ("storage_base is s3://", config.storage_base.startswith("s3://")),
        "kubernetes_default": ("execution_mode is kubernetes", config.execution_mode == "kubernetes"),
    }
    result: dict[str, Any] = {"dags": dags, "connections": {}}
    for conn_id, sources in sorted(found.items()):
        condition, needed = needed_when.get(conn_id, ("always", True))
        try:
            conn = BaseHook.get_connection(conn_id)
            configured, detail = True, f"{conn.conn_type}://{conn.host or ''}"
        except Exception as error:
            configured, detail = False, f"{type(error).__name__}: {error}"
        result["connections"][conn_id] = {
            "sources": sorted(sources),
            "needed": needed,
            "needed_when": condition,
            "configured": configured,
            "detail": detail,
        }
    print(json.dumps(result))


main()
