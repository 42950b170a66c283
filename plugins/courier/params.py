"""Checks of run params that name a file or a place to write.

Airflow's security model: DAG authors are trusted, users who trigger a DAG with a conf are not. They choose
parameters, never code, files outside trusted folders, or where credentials go. Every DAG param that names a
place goes through here (spec lists: :mod:`courier.specs.enqueue`; HTTP endpoints: :mod:`courier.http`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit


class ParamError(ValueError):
    """A run param names something a run may not use; the message names the param and what is accepted."""


def is_inside(path: Path, root: Path) -> bool:
    """Whether ``path`` is ``root`` or lies under it (both compared as given: resolve them first)."""
    return path == root or path.is_relative_to(root)


def real_path(path: Path) -> Path:
    """``path`` with every link resolved (``..`` too), whether or not it exists."""
    return path.expanduser().resolve(strict=False)


def run_folder_name(run_id: str) -> str:
    """``run_id`` as the name of its run's folder; :class:`ParamError` for ``.`` and ``..``: valid Airflow run
    ids that would name the run folders' folder itself, or the one above it (every writer of a run folder
    calls this: pages' ``RunLayout``, specs' ``run_folder``)."""
    if run_id in (".", ".."):
        raise ParamError(f"run id {run_id!r} names no folder of its own: trigger the run with another run id")
    return run_id


def local_storage_root(base: str) -> Path | None:
    """The real folder of a ``file:///`` storage base, None for object stores."""
    if not base.startswith("file://"):
        return None
    return real_path(Path(unquote(urlsplit(base).path)))


def _under(url: str, base: str) -> bool:
    if url.split("://", 1)[0] != base.split("://", 1)[0]:
        return False
    root = local_storage_root(base)
    if root is not None:
        target = local_storage_root(url)
        return target is not None and is_inside(target, root)
    return url == base or url.startswith(base + "/")


def storage_param(value: str | None, param: str = "storage_base") -> str | None:
    """Check a run's ``storage_base`` override: None when not given, else the URL, which must lie under the
    configured ``[courier] storage_base`` or one of ``[courier] run_storage_bases`` (same scheme; on
    ``file://`` its real path, links resolved; on ``s3://`` the same prefix).

    Raise :class:`ParamError` naming the accepted bases otherwise.
    """
    from courier.config import CourierConfigError, load_one
    from courier.config.values import _storage_base

    if value is None or not str(value).strip():
        return None
    bases: list[str] = [load_one("storage_base"), *load_one("run_storage_bases")]
    refused = ParamError(
        f"{param} = {value!r} is refused: a run may only write under [courier] storage_base ({bases[0]})"
        + (f" or [courier] run_storage_bases ({', '.join(bases[1:])})" if bases[1:] else "")
        + f"; give {bases[0]}/<folder> or leave it empty"
    )
    try:
        url = _storage_base(str(value))
    except CourierConfigError:
        raise refused from None
    rest = url.split("://", 1)[1]
    if "\\" in url or "%" in url or any(seg in (".", "..") for seg in rest.split("/")[1:]):
        raise refused
    if not any(_under(url, base) for base in bases):
        raise refused
    return url


@contextmanager
def fail_fast() -> Iterator[None]:
    """Turn a :class:`ParamError` into ``AirflowFailException``: a refused param fails the task without retries."""
    try:
        yield
    except ParamError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from exc
