"""Run params that name a file, a place to write or a URL (security review #18): what is accepted now."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from courier.bundle import include_folder
from courier.http import HttpSettings
from courier.pages.fanout import FanoutRequest
from courier.pages.snapshot import SnapshotRequest
from courier.params import ParamError, storage_param
from courier.specs.enqueue import DEFAULT_SPEC_LIST, SpecRunRequest, resolve_spec_list, spec_roots
from courier.specs.runner import base_environment
from courier.specs.speclist import SpecListError, load

ROOT = include_folder() / "specs"  # the source tree's, or the installed wheel's (tests/compat)


def test_the_shipped_spec_list_is_under_the_default_root() -> None:
    assert spec_roots()[0] == ROOT.resolve()
    path = resolve_spec_list(DEFAULT_SPEC_LIST)
    assert path == (ROOT / "specs.json").resolve()
    assert load(path).specs  # and it is valid


@pytest.mark.parametrize(
    "given",
    ["/etc/passwd", "include/specs/../../pyproject.toml", "dags/spec_matrix.py", "include/specs/nope.json"],
)
def test_spec_lists_outside_the_roots_are_refused_naming_them(given: str) -> None:
    with pytest.raises(SpecListError, match=rf"spec_list: .*spec roots \({ROOT}\).*\[courier\] spec_roots"):
        resolve_spec_list(given)


def test_spec_roots_adds_folders_and_a_link_out_of_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra, outside = tmp_path / "extra", tmp_path / "outside"
    extra.mkdir()
    outside.mkdir()
    (extra / "ok.json").write_text("{}")
    (outside / "evil.json").write_text("{}")
    (extra / "evil.json").symlink_to(outside / "evil.json")
    with pytest.raises(SpecListError, match="is outside the spec roots"):
        resolve_spec_list(str(extra / "ok.json"))  # not a root yet
    monkeypatch.setenv("AIRFLOW__COURIER__SPEC_ROOTS", f"{extra}, /no/such/folder")
    assert spec_roots() == [ROOT.resolve(), extra.resolve()]
    assert resolve_spec_list(str(extra / "ok.json")) == (extra / "ok.json").resolve()
    with pytest.raises(
        SpecListError, match=rf"resolves to {outside / 'evil.json'}, outside .*roots \({ROOT}, {extra}\)"
    ):
        resolve_spec_list(str(extra / "evil.json"))


def test_spec_roots_must_be_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    from courier.config import CourierConfigError, load

    with pytest.raises(CourierConfigError, match=r"\[courier\] spec_roots = 'include/more' is invalid"):
        load({"spec_roots": "include/more"})


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", folder.as_uri())
    return folder


def test_storage_base_params_under_the_configured_base_are_accepted(base: Path) -> None:
    assert storage_param(None) is None and storage_param("") is None
    assert storage_param(base.as_uri()) == base.as_uri()
    assert storage_param(f"{base.as_uri()}/team-a/") == f"{base.as_uri()}/team-a"


def test_storage_base_params_elsewhere_are_refused(base: Path, tmp_path: Path) -> None:
    (base / "link").symlink_to(tmp_path, target_is_directory=True)
    for value in (
        tmp_path.as_uri(),
        f"{base.as_uri()}-evil",
        f"{base.as_uri()}/../evil",
        f"{base.as_uri()}/%2E%2E/evil",
        f"{base.as_uri()}/link/evil",
        "s3://bucket/prefix",
        "file://relative",
        "/absolute/path",
    ):
        with pytest.raises(ParamError, match=rf"storage_base = .* is refused: .*\({base.as_uri()}\)"):
            storage_param(value)


def test_run_storage_bases_adds_bases_an_admin_allows(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__COURIER__RUN_STORAGE_BASES", "s3://bucket/courier, s3://other")
    assert storage_param("s3://bucket/courier/x") == "s3://bucket/courier/x"
    assert storage_param("s3://other") == "s3://other"
    pattern = (
        rf"under \[courier\] storage_base \({base.as_uri()}\) or \[courier\] run_storage_bases \(s3://bucket/courier"
    )
    with pytest.raises(ParamError, match=pattern):
        storage_param("s3://bucket/elsewhere")


def test_every_dag_parser_checks_its_storage_base(base: Path, tmp_path: Path) -> None:
    elsewhere = {"storage_base": (tmp_path / "x").as_uri()}
    for parse in (SpecRunRequest.from_params, SnapshotRequest.from_params, FanoutRequest.from_params):
        with pytest.raises(ParamError, match="a run may only write under"):
            parse(elsewhere)


def test_s3_storage_base_params_stay_in_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", "s3://bucket/courier")
    assert storage_param("s3://bucket/courier/run") == "s3://bucket/courier/run"
    for value in ("s3://bucket/courier-other", "s3://other/courier", "s3://bucket", "s3://bucket/courier/../x"):
        with pytest.raises(ParamError):
            storage_param(value)


SETTINGS = HttpSettings(base_url="http://api.example:8080/v1", headers={"Authorization": "Bearer t"}, conn_id="c")


@pytest.mark.parametrize(
    "endpoint", ["/data", "data", "/data?rows=3&next=http://x", "/users/@me", "/a%20b", "http://api.example:8080/x"]
)
def test_relative_endpoints_are_accepted(endpoint: str) -> None:
    assert SETTINGS.endpoint(endpoint) == endpoint


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://evil.example/data",
        "https://api.example/data",  # another origin of the same host
        "http://api.example:9090/data",
        "//evil.example/data",
        "///evil.example/data",
        "\\\\evil.example\\data",
        "/\\evil.example/data",
        "http:\\\\evil.example",
        "http://api.example:8080@evil.example/data",
        "%2F%2Fevil.example/data",
        "%252F%252Fevil.example/data",
        "http%3A%2F%2Fevil.example/data",
        "evil.example:80/data",
        "javascript:alert(1)",
        " http://evil.example/",
        "/data\r\nHost: evil.example",
        "",
    ],
)
def test_endpoints_naming_another_place_are_refused(endpoint: str) -> None:
    with pytest.raises(ParamError, match=r"endpoint = .* is refused: give a path relative to the connection c"):
        SETTINGS.endpoint(endpoint)


def test_allowed_hosts_come_from_the_connection_only() -> None:
    from courier.http import settings_from_connection

    class Conn:
        conn_id, host, schema, port, login, password = "c", "api.example", "http", 8080, None, "t"
        extra_dejson = {"allowed_hosts": "cdn.example, *.files.example"}

    settings = settings_from_connection(Conn())
    assert settings.allowed_hosts == ("cdn.example", "*.files.example")
    assert settings.endpoint("https://cdn.example/x") == "https://cdn.example/x"
    assert settings.endpoint("https://a.files.example/x") == "https://a.files.example/x"
    for refused in ("https://evil.example/x", "https://cdn.example@evil.example/x", "ftp://cdn.example/x"):
        with pytest.raises(ParamError, match=r"allowed_hosts extra \(cdn.example, \*.files.example\)"):
            settings.endpoint(refused)


def test_a_cells_base_environment_keeps_what_processes_need_and_no_secret() -> None:
    worker = {
        "PATH": "/usr/bin",
        "HOME": "/home/airflow",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "AIRFLOW__API_AUTH__JWT_SECRET": "s",
        "AIRFLOW_CONN_COURIER_DB": "postgresql://u:p@h/db",
        "COURIER_DATABASE_URL": "postgresql://u:p@h/db",
        "AWS_SECRET_ACCESS_KEY": "k",
        "GITHUB_TOKEN": "t",
        "COURIER_STACK_ID": "0123abcd",  # courier up's process tag: its stop must find the cell's browser
    }
    assert base_environment(worker) == {
        "PATH": "/usr/bin",
        "HOME": "/home/airflow",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "COURIER_STACK_ID": "0123abcd",
    }
    assert json.dumps(base_environment(worker))  # plain strings


def test_spec_base_url_is_decided_by_the_site_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_SPEC_SITE_DEFAULT", raising=False)
    with pytest.raises(ParamError, match=r"spec_site_default connection, whose host .* is not defined"):
        SpecRunRequest.from_params({"base_url": "http://site.example"})
    site = {"conn_type": "http", "host": "site.example", "port": 8080, "extra": {"allowed_hosts": ["staging.example"]}}
    monkeypatch.setenv("AIRFLOW_CONN_SPEC_SITE_DEFAULT", json.dumps(site))
    assert SpecRunRequest.from_params({"base_url": "http://site.example:8080/"}).base_url == "http://site.example:8080"
    assert SpecRunRequest.from_params({"base_url": "https://staging.example"}).base_url == "https://staging.example"
    assert SpecRunRequest.from_params({}).base_url is None  # the connection's URL, at plan time
    for value in ("http://169.254.169.254/latest", "http://site.example:9090", "/relative", "//internal/x"):
        with pytest.raises(
            ParamError, match=r"base_url = .* is refused: give a URL on the connection spec_site_default"
        ):
            SpecRunRequest.from_params({"base_url": value})


@pytest.mark.parametrize("run_id", [".", ".."])
def test_run_ids_naming_no_folder_of_their_own_are_refused_on_the_write_side(
    base: Path, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Security review #23, L3: Airflow accepts the run ids ``.`` and ``..``; as a folder name they write into
    every run's folder, or one above it."""
    from courier.pages.batching import RunLayout
    from courier.specs.report import run_folder

    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", base.as_uri())
    with pytest.raises(ParamError, match=re.escape(f"run id {run_id!r} names no folder of its own")):
        RunLayout.for_run(base.as_uri(), "paginated_fanout", run_id)
    with pytest.raises(ParamError, match=re.escape(f"run id {run_id!r} names no folder of its own")):
        run_folder(run_id)
    assert RunLayout.for_run(base.as_uri(), "paginated_fanout", "..a").base.endswith("/pages/paginated_fanout/..a")
    assert str(run_folder("a..")).endswith("/specs/spec_matrix/a..")
