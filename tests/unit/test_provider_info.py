"""The provider metadata: valid for Airflow, complete, and true to the code it describes.

Every hook, trigger, operator and extra link is importable by the path declared, and every class of those
kinds in the package is declared; every connection extra a hook reads (found in the code with ``ast``, not
listed by hand) is a field of its connection type's form; extras are read with their types.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import BaseHook, BaseOperator, BaseOperatorLink
from airflow.triggers.base import BaseTrigger

import courier
from courier import config, connections, provider_info
from courier.connections import CONNECTION_TYPES, ConnectionExtraError, parse_extras
from courier.http import settings_from_connection

PACKAGE = Path(courier.__file__).parent
INFO = provider_info.get_provider_info()


def _modules() -> list[Any]:
    names = [m.name for m in pkgutil.walk_packages([str(PACKAGE)], "courier.")]
    skip = ("courier.runtime", "courier.demo", "courier.cli", "courier.ui", "courier.api", "courier.plugin")
    return [importlib.import_module(n) for n in names if not n.startswith(skip)]


def _defined(kind: type) -> set[str]:
    """Every concrete subclass of ``kind`` defined in the package, as ``module.Class``."""
    found = set()
    for module in _modules():
        for name, obj in vars(module).items():
            ours = inspect.isclass(obj) and issubclass(obj, kind) and obj.__module__ == module.__name__
            if ours and not inspect.isabstract(obj) and not name.startswith("_"):
                found.add(f"{obj.__module__}.{name}")
    return found


def _declared_modules(key: str) -> list[str]:
    return [m for entry in INFO[key] for m in entry["python-modules"]]


def test_provider_info_is_valid_for_airflow() -> None:
    from airflow.providers_manager import _create_provider_info_schema_validator

    _create_provider_info_schema_validator().validate(INFO)


@pytest.mark.parametrize(("key", "kind"), [("hooks", BaseHook), ("triggers", BaseTrigger), ("operators", BaseOperator)])
def test_every_class_is_declared_by_an_importable_module(key: str, kind: type) -> None:
    declared = _declared_modules(key)
    in_declared = set()
    for name in declared:
        module = importlib.import_module(name)  # importable by the path declared
        classes = {
            f"{name}.{n}"
            for n, o in vars(module).items()
            if inspect.isclass(o) and issubclass(o, kind) and o.__module__ == name
        }
        assert classes, f"{name} is declared under {key} but defines no {kind.__name__}"
        in_declared |= classes
    assert _defined(kind) - in_declared == set(), f"{kind.__name__}s not under a module declared in {key!r}"


def test_connection_types_name_their_hooks_and_every_hook_has_one() -> None:
    entries = {e["connection-type"]: e for e in INFO["connection-types"]}
    assert set(entries) == {"courier_report_api", "courier_paged_api", "courier_jobs_api", "courier_db"}
    hooks = set()
    for spec in CONNECTION_TYPES:
        module, _, name = spec.hook_class.rpartition(".")
        hook = getattr(importlib.import_module(module), name)
        hooks.add(spec.hook_class)
        assert issubclass(hook, BaseHook)
        assert hook.conn_type == spec.conn_type == entries[spec.conn_type]["connection-type"]
        assert hook.hook_name == entries[spec.conn_type]["hook-name"]
        assert hook.default_conn_name == spec.default_conn_id
        assert hook.conn_name_attr in inspect.signature(hook.__init__).parameters  # Connection.get_hook passes it
        assert "test_connection" in vars(hook), f"{spec.hook_class} has no test_connection of its own"
    assert _defined(BaseHook) == hooks
    assert {s.default_conn_id for s in CONNECTION_TYPES} == {
        "report_api_default",
        "paged_api_default",
        "jobs_api_default",
        "courier_db",
    }


def test_extra_links_are_importable_and_every_link_is_declared() -> None:
    for path in INFO["extra-links"]:
        module, _, name = path.rpartition(".")
        link = getattr(importlib.import_module(module), name)
        assert issubclass(link, BaseOperatorLink) and link.name
    assert _defined(BaseOperatorLink) == set(INFO["extra-links"])
    attached = {type(link) for op in _defined_classes(BaseOperator) for link in op.operator_extra_links}
    courier_links = {f"{c.__module__}.{c.__name__}" for c in attached if c.__module__.startswith("courier")}
    assert courier_links == set(INFO["extra-links"]), "every link is on an operator, every operator's link declared"


def _defined_classes(kind: type) -> list[type]:
    out = []
    for path in _defined(kind):
        module, _, name = path.rpartition(".")
        out.append(getattr(importlib.import_module(module), name))
    return out


# --- the extras a hook reads, found in the code ------------------------------------------------------------

READERS = {
    # which modules read the extras of which connection type (courier/http.py reads every HTTP type's)
    "courier_report_api": ["http.py", "reports"],
    "courier_paged_api": ["http.py", "pages"],
    "courier_jobs_api": ["http.py", "jobs"],
    "courier_db": ["db"],
}


def _read_extras(paths: list[Path]) -> set[str]:
    """String keys read from anything named ``extra`` / ``extras`` / ``.extra`` / ``.extra_dejson``."""

    def is_extra(node: ast.AST) -> bool:
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
        return name in ("extra", "extras", "extra_dejson")

    keys: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Subscript) and is_extra(node.value):
                key = node.slice
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and is_extra(node.func.value)
                and node.args
            ):
                key = node.args[0]
            else:
                continue
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                keys.add(key.value)
    return keys


def _files(parts: list[str]) -> list[Path]:
    files: list[Path] = []
    for part in parts:
        target = PACKAGE / part
        files += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return files


def test_the_extra_scanner_finds_what_the_code_reads() -> None:
    """The scanner itself: it finds extras known to be read (a scanner that finds nothing would pass anything)."""
    assert {"verify", "allowed_hosts", "token", "timeout"} <= _read_extras(_files(["http.py"]))
    assert {"not_ready_marker", "request_path", "report_path", "request_method"} <= _read_extras(_files(["reports"]))


@pytest.mark.parametrize("spec", CONNECTION_TYPES, ids=lambda s: s.conn_type)
def test_every_extra_a_hook_reads_is_in_its_form(spec: connections.ConnectionType) -> None:
    read = _read_extras(_files(READERS[spec.conn_type]))
    form = next(e for e in INFO["connection-types"] if e["connection-type"] == spec.conn_type)["conn-fields"]
    assert read - set(form) == set(), f"{spec.conn_type}: extras read by the code but missing from the form"
    for name, field in form.items():
        declared = spec.extra(name)
        assert field["schema"]["type"][0] == declared.type in connections.TYPES
        assert field["label"] and field["description"]


# --- typed parsing ------------------------------------------------------------------------------------------


class _Conn:
    def __init__(self, extra: dict[str, Any], conn_type: str = "courier_paged_api") -> None:
        self.conn_id, self.conn_type, self.extra_dejson = "paged_api_default", conn_type, extra
        self.host, self.schema, self.port, self.login, self.password = "api.example.com", "https", None, None, None


@pytest.mark.parametrize(("raw", "expected"), [("false", False), ("False", False), ("0", False), (False, False),
                                               ("true", True), (True, True), (None, True)])  # fmt: skip
def test_verify_is_read_as_a_boolean(raw: Any, expected: bool) -> None:
    extra = {} if raw is None else {"verify": raw}
    assert settings_from_connection(_Conn(extra)).verify is expected


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"verify": "maybe"}, "extra verify = 'maybe' is invalid: expected true or false"),
        ({"timeout": "soon"}, "extra timeout = 'soon' is invalid: expected a finite number"),
        ({"allowed_hosts": 7}, "extra allowed_hosts = 7 is invalid"),
        ({"headers": "[1]"}, "extra headers = '[1]' is invalid: expected a JSON object"),
        ({"token": ["x"]}, "extra token = <hidden> is invalid"),
    ],
)
def test_a_bad_extra_is_an_error_naming_it(extra: dict[str, Any], named: str) -> None:
    with pytest.raises(ConnectionExtraError, match=re.escape("connection 'paged_api_default': " + named)):
        settings_from_connection(_Conn(extra))


def test_extras_of_a_legacy_http_connection_are_read_the_same() -> None:
    extra = {"verify": "false", "timeout": "5", "allowed_hosts": "a.example.com, *.b.example.com"}
    legacy = settings_from_connection(_Conn(extra, conn_type="http"))
    assert (legacy.verify, legacy.timeout, legacy.allowed_hosts) == (False, 5.0, ("a.example.com", "*.b.example.com"))
    assert settings_from_connection(_Conn({"allowed_hosts": ["a.example.com"]})).allowed_hosts == ("a.example.com",)


def test_report_extras_have_types_and_defaults() -> None:
    values = parse_extras(connections.REPORT_API.extras, {"request_method": "get"}, "r")
    assert values["request_method"] == "GET" and values["not_ready_marker"] == "report is not ready"
    with pytest.raises(
        ConnectionExtraError, match=re.escape("extra request_method = 'PUT' is invalid: expected POST | GET")
    ):
        parse_extras(connections.REPORT_API.extras, {"request_method": "PUT"}, "r")
    jobs = parse_extras(connections.JOBS_API.extras, {"max_result_bytes": "1000"}, "j")
    assert jobs["max_result_bytes"] == 1000
    with pytest.raises(ConnectionExtraError, match="max_result_bytes = 0 is invalid"):
        parse_extras(connections.JOBS_API.extras, {"max_result_bytes": 0}, "j")


def test_db_extras_become_libpq_parameters() -> None:
    from courier.db.hook import conninfo_from_connection

    class Db(_Conn):
        def __init__(self, extra: dict[str, Any]) -> None:
            super().__init__(extra, "postgres")
            self.host, self.port, self.login, self.password, self.schema = "db", 5432, "u", "p", "courier"

    url = conninfo_from_connection(Db({"sslmode": "require", "connect_timeout": "7", "ignored": "x"}))  # type: ignore[arg-type]
    assert url == "postgresql://u:p@db:5432/courier?connect_timeout=7&sslmode=require"
    with pytest.raises(ConnectionExtraError, match="extra sslmode = 'sometimes'"):
        conninfo_from_connection(Db({"sslmode": "sometimes"}))  # type: ignore[arg-type]


# --- the [courier] config section -----------------------------------------------------------------------------


def test_config_options_are_published_with_real_types() -> None:
    options = INFO["config"][config.SECTION]["options"]
    assert set(options) == {s.key for s in config.SETTINGS}
    types = {key: option["type"] for key, option in options.items()}
    assert types["webhook_allow_private_targets"] == "boolean"
    assert types["job_timeout"] == types["stats_max_batch_events"] == types["api_max_body_bytes"] == "integer"
    assert types["storage_base"] == types["webhook_retry_schedule"] == types["execution_mode"] == "string"
    for setting in config.SETTINGS:
        option = options[setting.key]
        assert option["sensitive"] is setting.secret
        if option["type"] == "integer":  # what Airflow would convert with getint() is an integer
            assert int(option["default"]) == setting.parse(option["default"])
        if option["type"] == "boolean":
            assert option["default"] in ("true", "false")
