"""Bodies are read by Courier after ``access(...)``, never by FastAPI before it: the app factory refuses a route
that would, and the OpenAPI document still describes every body, its limits and its errors."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from courier.api.app import create_app, openapi_document
from courier.api.bodies import check_routes


class Thing(BaseModel):
    name: str


def test_a_route_whose_body_fastapi_reads_first_is_refused() -> None:
    router = APIRouter()

    @router.post("/things")
    def make(thing: Thing) -> dict[str, str]:
        return {"name": thing.name}

    app = FastAPI()
    app.include_router(router)
    with pytest.raises(RuntimeError, match=r"POST.*/things.*before authentication"):
        check_routes(app)


def test_courier_has_no_route_whose_body_fastapi_reads() -> None:
    check_routes(create_app())  # create_app runs it too; this names the rule


@pytest.mark.parametrize(
    ("path", "schema", "limit_status"),
    [
        ("/timers", "TimerIn", "413"),
        ("/timers/batch", "TimerBatchIn", "413"),
        ("/jobs", "JobIn", "413"),
        ("/jobs/batch", "JobBatchIn", "413"),
        ("/jobs/files", None, "413"),
        ("/stats", None, "413"),
    ],
)
def test_bodies_stay_documented(path: str, schema: str | None, limit_status: str) -> None:
    document = openapi_document(create_app())
    operation = document["paths"][path]["post"]
    body = operation["requestBody"]
    assert body["required"] is True
    if schema is not None:
        assert body["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{schema}"}
        assert schema in document["components"]["schemas"]
    assert limit_status in operation["responses"] and "400" in operation["responses"]


def test_limits_are_in_the_schema() -> None:
    schemas = openapi_document(create_app())["components"]["schemas"]
    headers = schemas["TimerIn"]["properties"]["headers"]
    assert headers["maxProperties"] == 32 and "8192 bytes" in headers["description"]
    assert "65536 bytes" in schemas["JobIn"]["properties"]["params"]["description"]
    assert schemas["JobIn"]["properties"]["files_to_process"]["items"]["maxLength"] == 1024
    assert schemas["TimerBatchIn"]["properties"]["timers"]["items"] == {"$ref": "#/components/schemas/TimerIn"}
    jobs = schemas["JobBatchIn"]["properties"]["jobs"]
    assert jobs["items"] == {"$ref": "#/components/schemas/JobIn"} and jobs["maxItems"] == 1000


def test_cancel_is_documented_as_a_post_that_keeps_the_record() -> None:
    paths = openapi_document(create_app())["paths"]
    for kind, param in (("timers", "timer_id"), ("jobs", "job_id")):
        assert "post" in paths[f"/{kind}/{{{param}}}/cancel"]
        assert "delete" not in paths[f"/{kind}/{{{param}}}"]
