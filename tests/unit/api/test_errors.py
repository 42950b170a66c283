"""The common error model: every error answer has the same shape, 405s list the right methods, a lost
database is a 503 with Retry-After, and the OpenAPI document declares what every route can answer."""

from __future__ import annotations

import psycopg
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from courier.api import errors
from courier.api.app import create_app, openapi_document
from courier.api.errors import ApiError
from courier.wire import Rfc3339


class _Thing(BaseModel):
    size: int


def _app() -> FastAPI:
    app = FastAPI()
    errors.install(app)
    router = APIRouter(prefix="/things")

    @router.post("")
    def create(thing: _Thing) -> dict[str, int]:
        return {"size": thing.size}

    @router.post("/batch")
    def batch() -> dict[str, str]:
        return {}

    @router.get("/{thing_id}")
    def get(thing_id: str) -> dict[str, str]:
        raise ApiError(404, f"no thing {thing_id!r}", loc=("path", "thing_id"))

    @router.delete("/{thing_id}")
    def delete(thing_id: str) -> dict[str, str]:
        raise psycopg.OperationalError("connection refused")

    @router.get("/boom/now")
    def boom() -> dict[str, str]:
        raise RuntimeError("bug")

    app.include_router(router)
    return app


def _one_item(body: dict[str, object]) -> dict[str, object]:
    assert set(body) == {"detail"}, body
    detail = body["detail"]
    assert isinstance(detail, list) and detail, body
    for item in detail:
        assert {"loc", "msg", "type"} <= set(item), item
    return dict(detail[0])


def test_api_error_names_the_field() -> None:
    answer = TestClient(_app()).get("/things/x1")
    assert answer.status_code == 404
    assert _one_item(answer.json()) == {"loc": ["path", "thing_id"], "msg": "no thing 'x1'", "type": "not_found"}


def test_validation_error_has_the_same_shape() -> None:
    answer = TestClient(_app()).post("/things", json={"size": "big"})
    assert answer.status_code == 422
    assert _one_item(answer.json())["loc"] == ["body", "size"]


def test_malformed_json_is_400() -> None:
    answer = TestClient(_app()).post("/things", content=b"{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert _one_item(answer.json())["type"] == "malformed"


def test_unknown_route_is_404_in_the_model() -> None:
    answer = TestClient(_app()).get("/nowhere")
    assert answer.status_code == 404
    _one_item(answer.json())


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/things", "POST"),
        ("OPTIONS", "/things/batch", "POST"),
        ("PUT", "/things/t1", "DELETE, GET"),
    ],
)
def test_405_allow_lists_exactly_the_resource_methods(method: str, path: str, allow: str) -> None:
    answer = TestClient(_app()).request(method, path)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == allow
    assert allow in str(_one_item(answer.json())["msg"])


def test_lost_database_is_503_with_retry_after() -> None:
    answer = TestClient(_app()).delete("/things/t1")
    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) > 0
    assert "database" in str(_one_item(answer.json())["msg"])


def test_unexpected_error_is_500_in_the_model() -> None:
    answer = TestClient(_app(), raise_server_exceptions=False).get("/things/boom/now")
    assert answer.status_code == 500
    assert _one_item(answer.json())["type"] == "internal"


def test_every_operation_declares_the_common_errors_with_the_model() -> None:
    document = openapi_document(create_app())
    assert document["servers"] == [{"url": "/courier"}]
    assert document["security"] == [{"AirflowBearer": []}]
    operations = [(p, m, op) for p, item in document["paths"].items() for m, op in item.items()]
    assert operations
    for path, method, operation in operations:
        signed = operation.get("security") == []  # no bearer token, so no 401: the signature is checked (403)
        for code in ("403", "422", "503") if signed else ("401", "403", "422", "503"):
            assert code in operation["responses"], f"{method.upper()} {path} does not declare {code}"
            schema = operation["responses"][code]["content"]["application/json"]["schema"]
            # /health's 503 is its own report (which part is unhealthy), not an error body
            model = "Health" if (path, code) == ("/health", "503") else "ErrorBody"
            assert schema == {"$ref": f"#/components/schemas/{model}"}, (path, method, code, schema)


def test_timer_schema_says_exactly_one_time() -> None:
    schema = openapi_document(create_app())["components"]["schemas"]["TimerIn"]
    assert schema["oneOf"] == [{"required": ["delay_seconds"]}, {"required": ["fire_at"]}]
    assert schema["properties"]["delay_seconds"]["type"] == "number"  # not nullable


def test_unroutable_path_under_the_prefix_gets_the_model() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    host = Starlette(routes=[Mount("/courier", app=_app())])
    host.add_middleware(errors.UnroutablePathGuard, prefix="/courier")
    answer = TestClient(host).get("/courier/things/a%0Ab")
    assert answer.status_code == 404
    _one_item(answer.json())
    assert TestClient(host).get("/courier/things/ab").status_code == 404  # routed: the app's own 404
    assert TestClient(host).get("/courier/things/ab").json()["detail"][0]["loc"] == ["path", "thing_id"]


def test_every_operation_with_a_body_declares_400() -> None:
    document = openapi_document(create_app())
    with_body = [(p, m, op) for p, item in document["paths"].items() for m, op in item.items() if "requestBody" in op]
    assert with_body
    for path, method, operation in with_body:
        assert "400" in operation["responses"], f"{method.upper()} {path} does not declare 400"


@pytest.mark.parametrize("value", ["0.5", "1700000000", "2026-11-29"])
def test_rfc3339_query_times_refuse_other_shapes(value: str) -> None:
    from pydantic import TypeAdapter, ValidationError

    adapter = TypeAdapter(Rfc3339)
    with pytest.raises(ValidationError):
        adapter.validate_python(value)
    assert adapter.validate_python("2026-11-29T12:00:00Z").year == 2026
