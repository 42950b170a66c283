"""Object storage through ``ObjectStoragePath``: ``file://`` by default, ``s3://`` with ``aws_default``."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from airflow.sdk import ObjectStoragePath

AWS_CONN_ID = "aws_default"


def storage_base(override: str | None = None) -> ObjectStoragePath:
    """Return the storage base (``[courier] storage_base`` unless ``override`` is given)."""
    from courier.config import load, parse_value

    url = parse_value("storage_base", override) if override else load().storage_base
    if url.startswith("s3://"):
        return ObjectStoragePath(url, conn_id=AWS_CONN_ID)
    return ObjectStoragePath(url)


def is_local(path: ObjectStoragePath) -> bool:
    """Return True for local-filesystem paths (which need directories created)."""
    return path.protocol in ("file", "local", "")


def probe(base: ObjectStoragePath) -> int:
    """Write, read back and delete a probe object under ``base``; return its size or raise saying what failed."""
    payload = f"courier probe {uuid.uuid4()}\n".encode()
    target = base / "_courier_probe" / f"{uuid.uuid4().hex}.txt"
    step = "write"
    try:
        if is_local(base):
            target.parent.mkdir(parents=True, exist_ok=True)  # object stores need no directories (and
            # s3fs's mkdir would create a missing bucket, hiding the misconfiguration we look for)
        target.write_bytes(payload)
        step = "read back"
        if target.read_bytes() != payload:
            raise OSError("the bytes read back differ from the bytes written")
        step = "delete"
        target.unlink()
        if target.exists():
            raise OSError("the probe object still exists after delete")
    except Exception as exc:
        raise OSError(f"storage_base {base} is not usable: {step} of {target} failed: {exc}") from exc
    return len(payload)


@contextmanager
def _staged(path: ObjectStoragePath, mode: str, **options: Any) -> Iterator[IO[Any]]:
    """Open ``path`` for writing; the object appears (or is replaced) only if the block succeeds."""
    if is_local(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with staging.open(mode, **options) as stream:  # type: ignore[no-untyped-call]
                yield stream
            staging.replace(path)
        finally:
            if staging.exists():
                staging.unlink()
        return
    # Object stores: spool to a local file, upload it in one go at the end (multipart for large files),
    # so an error never commits a partial object.
    with tempfile.NamedTemporaryFile(mode + "+", suffix=".part", **options) as spool:
        yield spool
        spool.flush()
        path.fs.put_file(spool.name, path.path)


def open_write(path: ObjectStoragePath) -> contextlib.AbstractContextManager[IO[str]]:
    """Open ``path`` for writing UTF-8 text; the object appears (or is replaced) only if the block succeeds."""
    return _staged(path, "w", encoding="utf-8", newline="")


def open_write_bytes(path: ObjectStoragePath) -> contextlib.AbstractContextManager[IO[bytes]]:
    """Open ``path`` for writing bytes in chunks; the object appears (or is replaced) only if the block succeeds."""
    return _staged(path, "wb")


def path_of(url: str) -> ObjectStoragePath:
    """Return the object at a storage URL Courier recorded (``file:///…`` or ``s3://…``, through ``aws_default``)."""
    if url.startswith("s3://"):
        return ObjectStoragePath(url, conn_id=AWS_CONN_ID)
    return ObjectStoragePath(url)


def remove(path: ObjectStoragePath) -> int:
    """Delete the object or the folder (with everything under it) at ``path``; a missing one is not an error.
    Return how many objects were deleted. On a local file system an emptied parent folder is left in place."""
    fs, key = path.fs, path.path
    if not fs.exists(key):
        return 0
    if fs.isdir(key):
        found = [name for name in fs.find(key) if name != key]
        fs.rm(key, recursive=True)
        return len(found)
    fs.rm(key)
    return 1
