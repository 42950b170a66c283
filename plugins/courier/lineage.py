"""OpenLineage facets of Courier's operators that read an HTTP API and write a file.

Through the official ``apache-airflow-providers-openlineage`` (the optional extra ``airflow-courier[openlineage]``):
an operator's ``get_openlineage_facets_on_complete`` returns :func:`operator_lineage` of the API URL it read and
the file URL it wrote. The OpenLineage packages are imported only inside these functions, which run only when
the provider's listener is there, so Courier works without them.

Dataset names follow OpenLineage's naming: an HTTP API is namespace ``http(s)://host:port`` and name the path;
a local file is namespace ``file`` and name its absolute path; an S3 object is namespace ``s3://bucket`` and
name its key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit


def dataset_name(url: str) -> tuple[str, str]:
    """Return the OpenLineage (namespace, name) of an API URL, a ``file://`` URL or an ``s3://`` URL."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return "file", unquote(parts.path)
    if parts.scheme == "s3":
        return f"s3://{parts.netloc}", parts.path.lstrip("/")
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{parts.hostname}:{port}", parts.path or "/"


def operator_lineage(inputs: Sequence[str], outputs: Sequence[str]) -> Any:
    """An ``OperatorLineage`` naming ``inputs`` (URLs read) and ``outputs`` (files written); empty ones are left out."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import Dataset

    def datasets(urls: Sequence[str]) -> list[Any]:
        return [Dataset(namespace=ns, name=name) for ns, name in (dataset_name(u) for u in urls if u)]

    return OperatorLineage(inputs=datasets(inputs), outputs=datasets(outputs))
