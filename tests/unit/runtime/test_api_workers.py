"""How many API server processes ``courier up`` runs, and how it is told."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from courier.runtime import stack as stack_module
from courier.runtime.stack import Secrets, Stack, StackError


def _written_workers(stack: Stack) -> str:
    stack.airflow_home.mkdir(parents=True, exist_ok=True)
    stack._write_airflow_cfg("postgresql+psycopg2://x@127.0.0.1/airflow", Secrets.load_or_create(stack.home / "s.json"))
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(stack.airflow_home / "airflow.cfg")
    return cfg["api"]["workers"]


@pytest.mark.parametrize(("cores", "workers"), [(1, "1"), (2, "2"), (8, "2"), (None, "1")])
def test_one_api_worker_per_core_at_most_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cores: int | None, workers: str
) -> None:
    monkeypatch.setattr(stack_module.os, "cpu_count", lambda: cores)
    assert _written_workers(Stack(home=tmp_path, progress=lambda line: None)) == workers


def test_api_workers_can_be_set_and_must_be_positive(tmp_path: Path) -> None:
    assert _written_workers(Stack(home=tmp_path, api_workers=3, progress=lambda line: None)) == "3"
    with pytest.raises(StackError, match="--api-workers must be 1 or more"):
        Stack(home=tmp_path / "b", api_workers=0, progress=lambda line: None).start()


def test_courier_up_takes_api_workers_from_the_flag_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from courier.cli import build_parser

    assert build_parser().parse_args(["up"]).api_workers is None  # the stack's default
    assert build_parser().parse_args(["up", "--api-workers", "1"]).api_workers == 1
    monkeypatch.setenv("COURIER_API_WORKERS", "3")
    assert build_parser().parse_args(["up"]).api_workers == 3
