"""Spec lists: expansion, exclude rules, per-spec narrowing, validation errors, queue order by history."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from courier.specs.rules import next_status, order_cells
from courier.specs.speclist import DEFAULT_RETRIES, DEFAULT_TIMEOUT, SpecListError, load, parse
from tests.conftest import REPO

ISSUE_EXAMPLE: dict[str, Any] = {
    "browsers": ["chromium", "firefox", "webkit"],
    "viewports": {"desktop": [1280, 800], "tablet": [768, 1024], "mobile": [375, 667]},
    "exclude": [{"browser": "firefox", "viewport": "mobile"}, {"browser": "webkit", "viewport": "tablet"}],
    "specs": [
        {"id": "home-loads", "run": ["python", "checks/home.py"], "timeout": 60, "retries": 1},
        {
            "id": "login",
            "run": ["python", "checks/login.py"],
            "browsers": ["chromium"],
            "viewports": ["desktop", "mobile"],
            "exclude": [{"viewport": "mobile"}],
        },
    ],
}


def _keys(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c.spec_id, c.browser, c.viewport) for c in parse(data).expand().cells]


def test_issue_example_expands_to_the_valid_cells_only() -> None:
    expansion = parse(ISSUE_EXAMPLE).expand()
    assert [(c.spec_id, c.browser, c.viewport) for c in expansion.cells] == [
        ("home-loads", "chromium", "desktop"),
        ("home-loads", "chromium", "tablet"),
        ("home-loads", "chromium", "mobile"),
        ("home-loads", "firefox", "desktop"),
        ("home-loads", "firefox", "tablet"),
        ("home-loads", "webkit", "desktop"),
        ("home-loads", "webkit", "mobile"),
        ("login", "chromium", "desktop"),
    ]
    home = expansion.cells[0]
    assert (home.timeout, home.retries, home.run, home.width, home.height) == (
        60,
        1,
        ("python", "checks/home.py"),
        1280,
        800,
    )
    login = expansion.cells[-1]
    assert (login.timeout, login.retries) == (DEFAULT_TIMEOUT, DEFAULT_RETRIES) == (300, 0)
    assert login.name == "login [chromium/desktop]"
    # 9 + 9 candidate cells: 2 by global rules for home-loads, 7 narrowed away and 1 excluded for login
    assert sum(expansion.filtered.values()) == 18 - 8
    assert expansion.filtered['excluded by rule {"browser": "firefox", "viewport": "mobile"}'] == 1
    assert expansion.filtered['excluded by rule {"browser": "webkit", "viewport": "tablet"}'] == 1
    assert expansion.filtered['login: excluded by rule {"viewport": "mobile"}'] == 1
    assert [n for r, n in expansion.filtered.items() if r.startswith("login: narrowed")] == [7]


def test_a_rule_removes_a_cell_only_when_every_key_matches() -> None:
    data = copy.deepcopy(ISSUE_EXAMPLE)
    data["exclude"] = [{"browser": "firefox"}, {"spec": "home-loads", "viewport": "tablet"}]
    data["specs"] = data["specs"][:1]
    assert _keys(data) == [
        ("home-loads", "chromium", "desktop"),
        ("home-loads", "chromium", "mobile"),
        ("home-loads", "webkit", "desktop"),
        ("home-loads", "webkit", "mobile"),
    ]


def test_narrowing_by_viewports_only_keeps_every_browser() -> None:
    data = copy.deepcopy(ISSUE_EXAMPLE)
    data["exclude"] = []
    data["specs"] = [{"id": "s", "run": ["true"], "viewports": ["tablet"], "exclude": [{"browser": "webkit"}]}]
    assert _keys(data) == [("s", "chromium", "tablet"), ("s", "firefox", "tablet")]


def _problems(data: Any) -> list[tuple[str | None, str]]:
    with pytest.raises(SpecListError) as caught:
        parse(data)
    return [(p.spec, p.field) for p in caught.value.problems]


def test_every_problem_is_named_by_spec_and_field_at_once() -> None:
    data = copy.deepcopy(ISSUE_EXAMPLE)
    data["specs"] = [
        {"id": "a", "run": ["true"], "browser": ["chromium"]},  # unknown key (typo of browsers)
        {"id": "b", "run": [], "browsers": ["safari"]},  # empty run, undeclared browser
        {"id": "a", "run": "python x.py"},  # duplicate id, run not a list
        {"id": "c", "run": ["true"], "viewports": ["watch"], "timeout": 0, "retries": -1},
        {"id": "d", "run": ["true"], "exclude": [{"os": "linux"}]},
    ]
    problems = _problems(data)
    assert problems == [
        ("specs[0] (id 'a')", "browser"),
        ("specs[1] (id 'b')", "run"),
        ("specs[1] (id 'b')", "browsers"),
        ("specs[2] (id 'a')", "id"),
        ("specs[2] (id 'a')", "run"),
        ("specs[3] (id 'c')", "viewports"),
        ("specs[3] (id 'c')", "timeout"),
        ("specs[3] (id 'c')", "retries"),
        ("specs[4] (id 'd')", "exclude[0]"),
    ]
    with pytest.raises(SpecListError) as caught:
        parse(data)
    text = str(caught.value)
    assert "'safari' is not a declared browser" in text and "duplicate id 'a'" in text


def test_top_level_problems_are_named() -> None:
    assert _problems({"browsers": [], "viewports": {"x": [0, 1]}, "specs": [], "extra": 1}) == [
        (None, "extra"),
        (None, "browsers"),
        (None, "viewports.x"),
        (None, "specs"),
    ]
    data = copy.deepcopy(ISSUE_EXAMPLE)
    data["exclude"] = [{"browser": "opera"}]
    assert _problems(data) == [(None, "exclude[0].browser")]
    assert _problems([1, 2]) == [(None, "spec_list")]
    data["exclude"] = []
    data["specs"] = [{"run": ["true"]}]
    assert _problems(data) == [("specs[0]", "id")]


def test_load_reads_a_file_and_uses_its_folder_as_working_directory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "list.json"
    path.write_text(json.dumps(ISSUE_EXAMPLE))
    assert load(path).expand().workdir == str(tmp_path)
    path.write_text("{not json")
    with pytest.raises(SpecListError, match="not valid JSON"):
        load(path)
    with pytest.raises(SpecListError, match="cannot read"):
        load(tmp_path / "missing.json")


def test_shipped_suite_expands_to_15_cells_7_of_them_chromium() -> None:
    cells = load(REPO / "include" / "specs" / "specs.json").expand().cells
    assert len(cells) == 15
    assert sorted(c.name for c in cells if c.browser == "chromium") == [
        "home-loads [chromium/desktop]",
        "home-loads [chromium/mobile]",
        "home-loads [chromium/tablet]",
        "login [chromium/desktop]",
        "search [chromium/desktop]",
        "search [chromium/mobile]",
        "search [chromium/tablet]",
    ]
    assert all((REPO / "include" / "specs" / c.run[1]).is_file() for c in cells)


def test_queue_order_is_unknown_first_then_longest_expected_first() -> None:
    data = copy.deepcopy(ISSUE_EXAMPLE)
    data["exclude"], data["viewports"] = [], {"desktop": [1280, 800]}
    data["specs"] = [{"id": s, "run": ["true"], "browsers": ["chromium"]} for s in ("a", "b", "c", "d", "e")]
    cells = parse(data).expand().cells
    history = {
        "a|chromium|desktop": 500.0,
        "b|chromium|desktop": 4000.0,
        "d|chromium|desktop": 1200.0,
        "e|chromium|desktop": 4000.0,
    }
    ordered = order_cells(cells, history)
    assert [(c.spec_id, e) for c, e in ordered] == [
        ("c", None),
        ("b", 4000.0),
        ("e", 4000.0),
        ("d", 1200.0),
        ("a", 500.0),
    ]


@pytest.mark.parametrize(
    ("outcome", "failures", "retries", "expected"),
    [
        ("passed", 0, 0, ("passed", 0)),
        ("passed", 1, 1, ("flaky", 1)),
        ("skipped", 0, 2, ("skipped", 0)),
        ("failed", 0, 1, ("queued", 1)),
        ("failed", 1, 1, ("failed", 2)),
        ("timed_out", 0, 0, ("failed", 1)),
        ("timed_out", 0, 2, ("queued", 1)),
    ],
)
def test_next_status_retries_then_fails_and_marks_a_late_pass_flaky(
    outcome: str, failures: int, retries: int, expected: tuple[str, int]
) -> None:
    assert next_status(outcome, failures, retries) == expected
