"""The spec list: parse, validate and expand it into cells (spec x browser x viewport).

A spec runs over every declared browser and viewport unless it narrows them (``browsers``/``viewports``); a
global or per-spec ``exclude`` rule removes every cell whose keys all match. Every problem is reported at
once, each naming the spec (``specs[2] (id 'login')``) and the field, and nothing is queued while any exists.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 300.0
DEFAULT_RETRIES = 0
MAX_RETRIES = 10
TOP_KEYS = frozenset({"browsers", "viewports", "exclude", "specs"})
SPEC_KEYS = frozenset({"id", "run", "browsers", "viewports", "exclude", "timeout", "retries"})
RULE_KEYS = frozenset({"spec", "browser", "viewport"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the list: where (``spec``, ``field``) and what."""

    spec: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.spec}: " if self.spec else ""
        return f"{where}{self.field}: {self.message}"


class SpecListError(ValueError):
    """The spec list is invalid; :attr:`problems` names each spec and field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("invalid spec list:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Spec:
    id: str
    run: tuple[str, ...]
    browsers: tuple[str, ...]
    viewports: tuple[str, ...]
    exclude: tuple[dict[str, str], ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES


@dataclass(frozen=True)
class Cell:
    """One unit of work: a spec at one browser and viewport."""

    spec_id: str
    browser: str
    viewport: str
    width: int
    height: int
    run: tuple[str, ...]
    timeout: float
    retries: int

    @property
    def key(self) -> str:
        return cell_key(self.spec_id, self.browser, self.viewport)

    @property
    def name(self) -> str:
        """The test's name in reports: ``spec [browser/viewport]`` (unique, so CI systems keep every cell)."""
        return f"{self.spec_id} [{self.browser}/{self.viewport}]"


def cell_key(spec_id: str, browser: str, viewport: str) -> str:
    return f"{spec_id}|{browser}|{viewport}"


@dataclass
class Expansion:
    """The cells of a list and how many were filtered, by reason."""

    cells: list[Cell]
    filtered: dict[str, int] = field(default_factory=dict)
    workdir: str = "."


@dataclass(frozen=True)
class SpecList:
    browsers: tuple[str, ...]
    viewports: dict[str, tuple[int, int]]
    exclude: tuple[dict[str, str], ...]
    specs: tuple[Spec, ...]
    workdir: str = "."

    def expand(self) -> Expansion:
        """Return every cell, longest-first ordering left to the queue; count what was filtered and why."""
        cells: list[Cell] = []
        filtered: Counter[str] = Counter()
        for spec in self.specs:
            for browser in self.browsers:
                for viewport in self.viewports:
                    if browser not in spec.browsers or viewport not in spec.viewports:
                        filtered[
                            f"{spec.id}: narrowed to browsers {list(spec.browsers)} x viewports {list(spec.viewports)}"
                        ] += 1
                        continue
                    keys = {"spec": spec.id, "browser": browser, "viewport": viewport}
                    rule = _matching(self.exclude, keys)
                    if rule is not None:
                        filtered[f"excluded by rule {json.dumps(rule, sort_keys=True)}"] += 1
                        continue
                    rule = _matching(spec.exclude, keys)
                    if rule is not None:
                        filtered[f"{spec.id}: excluded by rule {json.dumps(rule, sort_keys=True)}"] += 1
                        continue
                    width, height = self.viewports[viewport]
                    cells.append(Cell(spec.id, browser, viewport, width, height, spec.run, spec.timeout, spec.retries))
        return Expansion(cells, dict(filtered), self.workdir)


def _matching(rules: tuple[dict[str, str], ...], keys: dict[str, str]) -> dict[str, str] | None:
    for rule in rules:
        if all(keys[k] == v for k, v in rule.items()):
            return rule
    return None


def load(path: str | Path) -> SpecList:
    """Read and validate the list at ``path``; its folder is the working directory of every cell."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecListError([Problem(None, "spec_list", f"cannot read {file}: {exc.strerror or exc}")]) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecListError([Problem(None, "spec_list", f"{file} is not valid JSON: {exc}")]) from exc
    return parse(data, workdir=str(file.resolve().parent))


def _names(value: Any, where: str | None, field_name: str, problems: list[Problem]) -> list[str] | None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        problems.append(Problem(where, field_name, "must be a non-empty list of non-empty strings"))
        return None
    duplicates = sorted({v for v in value if value.count(v) > 1})
    if duplicates:
        problems.append(Problem(where, field_name, f"lists {', '.join(duplicates)} more than once"))
    return list(value)


def _rules(
    value: Any,
    where: str | None,
    field_name: str,
    allowed: frozenset[str],
    known: dict[str, set[str]],
    problems: list[Problem],
) -> tuple[dict[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append(Problem(where, field_name, 'must be a list of rules such as {"browser": "firefox"}'))
        return ()
    rules: list[dict[str, str]] = []
    for i, rule in enumerate(value):
        loc = f"{field_name}[{i}]"
        if not isinstance(rule, dict) or not rule:
            problems.append(Problem(where, loc, f"must be a non-empty object with keys among {sorted(allowed)}"))
            continue
        unknown = sorted(set(rule) - allowed)
        if unknown:
            problems.append(Problem(where, loc, f"unknown key(s) {unknown}; allowed: {sorted(allowed)}"))
            continue
        ok = True
        for key, val in rule.items():
            if not isinstance(val, str):
                problems.append(Problem(where, f"{loc}.{key}", "must be a string"))
                ok = False
            elif key in known and val not in known[key]:
                problems.append(Problem(where, f"{loc}.{key}", f"{val!r} is not a declared {key}"))
                ok = False
        if ok:
            rules.append(dict(rule))
    return tuple(rules)


def parse(data: Any, workdir: str = ".") -> SpecList:
    """Validate ``data`` (the decoded JSON); raise :class:`SpecListError` listing every problem."""
    problems: list[Problem] = []
    if not isinstance(data, dict):
        raise SpecListError([Problem(None, "spec_list", "must be a JSON object")])
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        problems.append(Problem(None, ", ".join(unknown), f"unknown key(s); allowed: {sorted(TOP_KEYS)}"))
    browsers = _names(data.get("browsers"), None, "browsers", problems) or []
    viewports: dict[str, tuple[int, int]] = {}
    raw_viewports = data.get("viewports")
    if not isinstance(raw_viewports, dict) or not raw_viewports:
        problems.append(Problem(None, "viewports", 'must be a non-empty object such as {"desktop": [1280, 800]}'))
    else:
        for name, size in raw_viewports.items():
            if (
                not isinstance(size, list)
                or len(size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 10000 for v in size)
            ):
                problems.append(Problem(None, f"viewports.{name}", "must be [width, height] in pixels (1-10000)"))
            else:
                viewports[name] = (size[0], size[1])
    raw_specs = data.get("specs")
    spec_ids = {s.get("id") for s in raw_specs if isinstance(s, dict)} if isinstance(raw_specs, list) else set()
    known = {"browser": set(browsers), "viewport": set(viewports), "spec": {i for i in spec_ids if isinstance(i, str)}}
    exclude = _rules(data.get("exclude"), None, "exclude", RULE_KEYS, known, problems)
    specs: list[Spec] = []
    if not isinstance(raw_specs, list) or not raw_specs:
        problems.append(Problem(None, "specs", "must be a non-empty list of specs"))
        raw_specs = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_specs):
        spec = _spec(raw, index, browsers, viewports, known, seen, problems)
        if spec is not None:
            specs.append(spec)
    if problems:
        raise SpecListError(problems)
    return SpecList(tuple(browsers), viewports, exclude, tuple(specs), workdir)


def _spec(
    raw: Any,
    index: int,
    browsers: list[str],
    viewports: dict[str, tuple[int, int]],
    known: dict[str, set[str]],
    seen: set[str],
    problems: list[Problem],
) -> Spec | None:
    where = f"specs[{index}]"
    if not isinstance(raw, dict):
        problems.append(Problem(where, "spec", "must be an object with at least id and run"))
        return None
    spec_id = raw.get("id")
    if isinstance(spec_id, str) and spec_id.strip() and "|" not in spec_id:
        where = f"specs[{index}] (id {spec_id!r})"
        if spec_id in seen:
            problems.append(Problem(where, "id", f"duplicate id {spec_id!r}"))
        seen.add(spec_id)
    else:
        problems.append(Problem(where, "id", "must be a non-empty string without '|'"))
        spec_id = None
    before = len(problems)
    unknown = sorted(set(raw) - SPEC_KEYS)
    if unknown:
        problems.append(Problem(where, ", ".join(unknown), f"unknown key(s); allowed: {sorted(SPEC_KEYS)}"))
    run = raw.get("run")
    if not isinstance(run, list) or not run or not all(isinstance(a, str) for a in run) or not run[0]:
        problems.append(
            Problem(where, "run", 'must be a non-empty list of strings such as ["python", "checks/home.py"]')
        )
    own_browsers = browsers
    if "browsers" in raw:
        own_browsers = _names(raw["browsers"], where, "browsers", problems) or []
        for b in own_browsers:
            if b not in browsers:
                problems.append(Problem(where, "browsers", f"{b!r} is not a declared browser ({', '.join(browsers)})"))
    own_viewports = list(viewports)
    if "viewports" in raw:
        own_viewports = _names(raw["viewports"], where, "viewports", problems) or []
        for v in own_viewports:
            if v not in viewports:
                problems.append(
                    Problem(where, "viewports", f"{v!r} is not a declared viewport ({', '.join(viewports)})")
                )
    exclude = _rules(raw.get("exclude"), where, "exclude", RULE_KEYS - {"spec"}, known, problems)
    timeout = raw.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 24 * 3600:
        problems.append(Problem(where, "timeout", "must be a number of seconds > 0 and <= 86400"))
    retries = raw.get("retries", DEFAULT_RETRIES)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        problems.append(Problem(where, "retries", f"must be an integer from 0 to {MAX_RETRIES}"))
    if len(problems) > before or spec_id is None:
        return None
    return Spec(
        spec_id,
        tuple(str(a) for a in run or ()),
        tuple(own_browsers),
        tuple(own_viewports),
        exclude,
        float(timeout),
        int(retries),
    )
