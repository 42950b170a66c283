"""Object-storage reads and writes for the pages domain: whole objects or nothing, text streamed.

A write either completes or leaves the previous object in place: on ``file://`` the bytes go to a temporary
sibling that replaces the target at the end; on object stores they are spooled to a local temporary file
and uploaded once the writer succeeded (an upload replaces the object atomically).
"""

from __future__ import annotations

import io
import json
from typing import IO, Any

from airflow.sdk import ObjectStoragePath

from courier.storage import open_write, storage_base


def path_of(url: str) -> ObjectStoragePath:
    """Return the ``ObjectStoragePath`` of a ``file:///…`` or ``s3://…`` URL (S3 through ``aws_default``)."""
    return storage_base(url)


def base_url(override: str | None = None) -> str:
    """Return the storage base as a plain URL: ``override`` (validated) or ``[courier] storage_base``."""
    from courier.config import load

    if override:
        path_of(override)  # raises CourierConfigError naming the accepted forms
        return override.strip().rstrip("/")
    return load().storage_base


def open_read(path: ObjectStoragePath) -> IO[str]:
    """Open ``path`` for reading UTF-8 text (streamed)."""
    return io.TextIOWrapper(path.open("rb"), encoding="utf-8", newline="")  # type: ignore[no-untyped-call]


def write_json(path: ObjectStoragePath, document: Any) -> None:
    """Write ``document`` as indented JSON, whole or not at all."""
    with open_write(path) as stream:
        json.dump(document, stream, indent=2, ensure_ascii=False)
        stream.write("\n")


def read_json(path: ObjectStoragePath) -> Any:
    """Read a JSON document."""
    return json.loads(path.read_text(encoding="utf-8"))
