"""Job requests (``jobs/models.py``): what validation refuses."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from courier.jobs.models import JobIn


@pytest.mark.parametrize(
    "body",
    [
        {"files_to_process": []},
        {"files_to_process": ["f"] * 1001},
        {"files_to_process": ["f"], "callback_url": "ftp://example.com/x"},
        {"files_to_process": ["f"], "idempotency_key": ""},
        {"files_to_process": ["f"], "surprise": 1},
        {},
    ],
)
def test_request_validation(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        JobIn.model_validate(body)
