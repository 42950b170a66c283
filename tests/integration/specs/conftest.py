"""The specs domain's fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def spec_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``[courier] storage_base`` in the test's folder (``storage/``), and the test's folder a spec root (the
    spec lists the tests write are there); the storage folder."""
    folder = tmp_path / "storage"
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", folder.as_uri())
    monkeypatch.setenv("AIRFLOW__COURIER__SPEC_ROOTS", str(tmp_path))  # the lists below are written there
    return folder


@pytest.fixture
def upload_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``[courier] storage_base`` in the test's folder (``store/``), where the jobs upload route puts files, with
    a JWT secret set; the spec roots left at their default; the storage folder."""
    folder = tmp_path / "store"
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", folder.as_uri())
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "test-jwt-secret")
    return folder
