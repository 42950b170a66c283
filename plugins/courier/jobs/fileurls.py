"""URLs the processor fetches pushed files with, without any other credential.

* ``s3://`` storage base: an S3 presigned GET URL (``aws_default``), valid ``ttl`` seconds;
* otherwise ``{[courier] job_file_base_url or [api] base_url}/courier/jobs/files/{file}/content?path=…&expires=…&sig=…``, served by the one
  Courier route without a bearer token. ``sig`` is HMAC-SHA256 over ``path`` and ``expires`` with a key
  derived from the deployment's configuration (``[api_auth] jwt_secret``, else ``[core] fernet_key``); the
  key is never logged. A wrong, tampered or expired signature is refused (403).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

KEY_CONTEXT = b"courier jobs file url v1"
DEFAULT_TTL = 24 * 3600.0


class BadSignature(PermissionError):
    """The file URL's signature is missing, wrong, tampered or expired."""


def derive_key(secret: str) -> bytes:
    """The URL-signing key: HMAC of a fixed context under the deployment secret (never the secret itself)."""
    if not secret:
        raise RuntimeError("no secret to sign file URLs with: set [api_auth] jwt_secret (courier up does)")
    return hmac.new(secret.encode(), KEY_CONTEXT, hashlib.sha256).digest()


def configured_key() -> bytes:
    from airflow.configuration import conf

    secret = conf.get("api_auth", "jwt_secret", fallback="") or conf.get("core", "fernet_key", fallback="")
    return derive_key(secret or "")


def signature(key: bytes, path: str, expires: int) -> str:
    return hmac.new(key, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


def sign_query(key: bytes, path: str, ttl: float = DEFAULT_TTL, now: float | None = None) -> dict[str, str]:
    """The query parameters that let their holder GET ``path`` (storage-relative) until ``now + ttl``."""
    expires = int((time.time() if now is None else now) + ttl)
    return {"path": path, "expires": str(expires), "sig": signature(key, path, expires)}


def verify(key: bytes, path: str, expires: str, sig: str, now: float | None = None) -> None:
    """Raise :class:`BadSignature` unless ``sig`` signs ``path`` and ``expires`` and has not expired."""
    try:
        when = int(expires)
    except ValueError:
        raise BadSignature("expires is not a UNIX time") from None
    if not hmac.compare_digest(signature(key, path, when), sig):
        raise BadSignature("the signature does not match")
    if when < (time.time() if now is None else now):
        raise BadSignature("the URL has expired")


def api_base_url() -> str:
    """Where the processor reaches the API server: ``[courier] job_file_base_url``, else ``[api] base_url``."""
    from airflow.configuration import conf

    from courier.config import load_one

    configured = str(load_one("job_file_base_url"))
    return configured or (conf.get("api", "base_url", fallback="") or "http://localhost:8080").rstrip("/")


def file_url(relative: str, ttl: float = DEFAULT_TTL, key: bytes | None = None, base_url: str | None = None) -> str:
    """A URL the processor can GET ``relative`` (a path under the storage base) with, and nothing else."""
    from courier.jobs.files import url_of

    url = url_of(relative)
    if url.startswith("s3://"):
        return presigned_get(url, ttl)
    query = sign_query(key or configured_key(), relative, ttl)
    return f"{base_url or api_base_url()}/courier/jobs/files/content?{urlencode(query)}"


def presigned_get(url: str, ttl: float) -> str:
    """An S3 presigned GET URL for ``s3://bucket/key`` through the ``aws_default`` connection."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    bucket, key = S3Hook.parse_s3_url(url)
    presigned = S3Hook(aws_conn_id="aws_default").generate_presigned_url(
        client_method="get_object", params={"Bucket": bucket, "Key": key}, expires_in=int(ttl)
    )
    if not presigned:
        raise RuntimeError(f"could not presign {url}")
    return str(presigned)
