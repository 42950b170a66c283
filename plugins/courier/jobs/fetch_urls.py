"""URLs the processor fetches pushed files with, without any other credential.

A URL is for one job and lives until that job's deadline (``[courier] job_timeout`` after it was claimed for
submitting), never longer:

* ``s3://`` storage base: an S3 presigned GET URL (``aws_default``), valid until the deadline;
* otherwise ``{[courier] job_file_base_url or [api] base_url}/courier/jobs/files/content?job=…&path=…&expires=…&token=…``, served by the
  one Courier route without a bearer token. ``token`` is the signature: HMAC-SHA256 (64 hex digits) over the
  job id, ``path`` and ``expires`` with a key derived from the deployment's configuration (``[api_auth]
  jwt_secret``, else ``[core] fernet_key``). The key is never logged, and the signature is not either: the
  API server's access log (Airflow's ``HttpAccessLogMiddleware``, logger ``http.access``) masks query values
  whose name Airflow's secrets masker deems sensitive, which ``token`` is, so the line reads ``token=***``.
  The route also checks that the job names the file. A missing, malformed, wrong, tampered or expired
  signature is refused (403).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from datetime import datetime
from urllib.parse import urlencode

KEY_CONTEXT = b"courier jobs file url v2"
SIG_PARAM = "token"
"""The query parameter of the signature, named so that Airflow's access log masks its value."""
SIG_RE = re.compile(r"[0-9a-f]{64}")
EXPIRES_RE = re.compile(r"[0-9]{1,12}")


class BadSignature(PermissionError):
    """The file URL's signature is missing, malformed, wrong, tampered or expired."""


def derive_key(secret: str) -> bytes:
    """The URL-signing key: HMAC of a fixed context under the deployment secret (never the secret itself)."""
    if not secret:
        raise RuntimeError("no secret to sign file URLs with: set [api_auth] jwt_secret (courier up does)")
    return hmac.new(secret.encode(), KEY_CONTEXT, hashlib.sha256).digest()


def configured_key() -> bytes:
    from airflow.sdk import conf

    secret = conf.get("api_auth", "jwt_secret", fallback="") or conf.get("core", "fernet_key", fallback="")
    return derive_key(secret or "")


def signature(key: bytes, job_id: str, path: str, expires: int) -> str:
    return hmac.new(key, f"{job_id}\n{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


def expires_at(deadline: datetime | None, timeout: float, now: float | None = None) -> int:
    """When a URL for a job ends: its deadline, and never later than ``timeout`` (``job_timeout``) from now."""
    latest = (time.time() if now is None else now) + timeout
    return int(min(latest, deadline.timestamp()) if deadline is not None else latest)


def sign_query(key: bytes, job_id: str, path: str, expires: int) -> dict[str, str]:
    """The query parameters that let their holder GET ``path`` (storage-relative) for ``job_id`` until ``expires``."""
    return {"job": job_id, "path": path, "expires": str(expires), SIG_PARAM: signature(key, job_id, path, expires)}


def verify(key: bytes | None, job_id: str, path: str, expires: str, sig: str, now: float | None = None) -> None:
    """Raise :class:`BadSignature` unless ``sig`` signs ``job_id``, ``path`` and ``expires`` and has not expired.

    Every argument is taken as received (possibly empty, non-ASCII or overlong): nothing here raises anything
    but :class:`BadSignature`. ``key`` None: the deployment's (:func:`configured_key`), looked up once the
    request is well-formed.
    """
    if not SIG_RE.fullmatch(sig):
        raise BadSignature(f"{SIG_PARAM} (the signature) is missing or not 64 hex digits")
    if not EXPIRES_RE.fullmatch(expires):
        raise BadSignature("expires is missing or not a UNIX time")
    if not job_id or not path:
        raise BadSignature("job and path are required")
    when = int(expires)
    if not hmac.compare_digest(signature(key or configured_key(), job_id, path, when), sig):
        raise BadSignature("the signature does not match")
    if when < (time.time() if now is None else now):
        raise BadSignature("the URL has expired")


def api_base_url() -> str:
    """Where the processor reaches the API server: ``[courier] job_file_base_url``, else ``[api] base_url``."""
    from airflow.sdk import conf

    from courier.config import load_one

    configured = str(load_one("job_file_base_url"))
    return configured or (conf.get("api", "base_url", fallback="") or "http://localhost:8080").rstrip("/")


def file_url(relative: str, job_id: str, expires: int, key: bytes | None = None, base_url: str | None = None) -> str:
    """A URL the processor can GET ``relative`` (a path under the storage base) with for ``job_id`` until
    ``expires`` (see :func:`expires_at`), and nothing else."""
    from courier.jobs.storing import url_of

    url = url_of(relative)
    if url.startswith("s3://"):
        return presigned_get(url, max(1, expires - int(time.time())))
    query = sign_query(key or configured_key(), job_id, relative, expires)
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
