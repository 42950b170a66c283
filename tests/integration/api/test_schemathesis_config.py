"""tests/e2e/schemathesis.toml: each ``[[operations]]`` block applies to exactly the one operation it names, in
Courier's real OpenAPI schema. Schemathesis ORs a block's include filters, so a block written as
``include-path`` + ``include-method`` selected every operation with that method, and the first such block
decided the expected statuses of all of them (how GET /health's documented 503 went unaccepted)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import schemathesis
from schemathesis.config import SchemathesisConfig

from courier.api.app import create_app

CONFIG = Path(__file__).resolve().parents[2] / "e2e" / "schemathesis.toml"


def _schema() -> tuple[object, list[object]]:
    spec = create_app().openapi()
    schema = schemathesis.openapi.from_dict(spec, config=SchemathesisConfig.from_path(str(CONFIG)))
    return schema, [result.ok() for result in schema.get_all_operations()]


def test_each_block_applies_to_the_one_operation_it_names() -> None:
    schema, operations = _schema()
    blocks = tomllib.loads(CONFIG.read_text())["operations"]
    assert blocks
    for block, config in zip(blocks, schema.config.operations.operations, strict=True):  # type: ignore[attr-defined]
        selected = sorted(op.label for op in operations if config._filter_set.applies_to(operation=op))  # type: ignore[attr-defined]
        assert selected == [block["include-name"]], (block, selected)


def test_health_accepts_its_documented_503_in_every_phase_and_nothing_else_does() -> None:
    schema, operations = _schema()
    for op in operations:
        for phase in ("coverage", "fuzzing", "stateful"):
            checks = schema.config.checks_config_for(operation=op, phase=phase)  # type: ignore[attr-defined]
            accepts_503 = "503" in checks.positive_data_acceptance.expected_statuses
            assert accepts_503 == (op.label == "GET /health"), (op.label, phase)  # type: ignore[attr-defined]
            assert ("503" in checks.not_a_server_error.expected_statuses) == (op.label == "GET /health")  # type: ignore[attr-defined]
