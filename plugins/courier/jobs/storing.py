"""Pushed files: stored under ``{storage_base}/jobs/files/<file_id>/<name>``; resolving what a job names."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import IO

from airflow.sdk import ObjectStoragePath

from courier.storage import is_local, storage_base

FILES_PREFIX = "jobs/files"
CHUNK = 1024 * 1024
FILE_ID_RE = re.compile(r"^file_[0-9a-f]{32}$")
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


class TooLarge(ValueError):
    pass


class BadReference(ValueError):
    """A ``files_to_process`` entry is not a file Courier may hand to the processor."""


def safe_name(filename: str | None) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _NAME_RE.sub("_", name).strip("._")[:120]
    return name or "file"


def store_upload(stream: IO[bytes], filename: str | None, max_bytes: int) -> tuple[str, str, int, str]:
    """Copy ``stream`` chunk by chunk to storage; return ``(file_id, relative path, bytes, sha256)``.

    Raise :class:`TooLarge` (nothing kept) past ``max_bytes``.
    """
    file_id = f"file_{uuid.uuid4().hex}"
    relative = f"{FILES_PREFIX}/{file_id}/{safe_name(filename)}"
    target = storage_base() / relative
    digest = hashlib.sha256()
    size = 0
    local = is_local(target)
    if local:
        target.parent.mkdir(parents=True, exist_ok=True)
    written = target.with_name(f".{target.name}.part") if local else target
    try:
        with written.open("wb") as out:  # type: ignore[no-untyped-call]
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"the file is larger than [courier] job_max_upload_bytes ({max_bytes} bytes)")
                digest.update(chunk)
                out.write(chunk)
        if local:
            written.replace(target)
    except BaseException:
        for path in {written, target}:
            try:
                if path.exists():
                    path.unlink()
            except OSError:
                pass
        raise
    return file_id, relative, size, digest.hexdigest()


def full_path(relative: str, base: ObjectStoragePath | None = None) -> ObjectStoragePath:
    return (base or storage_base()) / relative


def base_url() -> str:
    """The storage base as configured (``s3://bucket/prefix`` or ``file:///path``, without a connection id)."""
    from courier.config import load

    return load().storage_base


def url_of(relative: str) -> str:
    """The storage URL of a storage-relative path, as clients see and send it."""
    return f"{base_url()}/{relative}"


def relative_reference(ref: str, base_url: str) -> str:
    """Turn a path reference (relative, or an absolute URL under ``base_url``) into a clean relative path."""
    if "://" in ref:
        prefix = base_url.rstrip("/") + "/"
        if not ref.startswith(prefix):
            raise BadReference(f"{ref!r} is outside the storage base {base_url}")
        ref = ref[len(prefix) :]
    parts = ref.split("/")
    if ref.startswith("/") or "\\" in ref or any(p in ("", ".", "..") for p in parts):
        raise BadReference(f"{ref!r} is not a clean path under the storage base (no '..', '.', '//' or leading '/')")
    return ref
