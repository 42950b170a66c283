"""The package's import graph: no cycles, and no import from a lower layer to a higher one.

Every module of ``plugins/courier`` is parsed with :mod:`ast`, and every ``import courier…`` /
``from courier… import …`` anywhere in it counts, function-level and ``TYPE_CHECKING`` imports included:
a cycle hidden inside a function is still a cycle (it only shows up later, in another process). The
layers are the ones docs/ARCHITECTURE.md ("Layers") names; :func:`layer_of` is their one definition.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

from courier import domains

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "courier"

LAYERS = ("base", "domain", "triggers", "tasks", "interface", "entry")
"""Lowest first. A module may import modules of its own layer or of a lower one, never of a higher one."""

BASE = frozenset(
    {"config", "provider_info", "http", "params", "wire", "storage", "db", "kubernetes", "domains", "procs"}
    | {"webhooks", "metrics", "internals", "bundle", "pools"}
    | {"connections", "conntest", "links", "assets", "lineage"}
)
ROLES = {"trigger": "triggers", "operators": "tasks", "pod": "tasks", "cli": "tasks", "api": "interface"}
"""A domain module's layer by its name; every other domain module (hook, store, rules, ...) is ``domain``."""
TOP = {"selfcheck": "domain", "retention": "domain", "api": "interface", "ui": "interface", "plugin": "interface"}
TOP |= {"runtime": "entry", "cli": "entry", "demo": "entry"}


def layer_of(module: str) -> str:
    """Return the layer of ``module`` (``courier.jobs.store`` -> ``domain``); raise for a module with none."""
    parts = module.split(".")[1:]
    if not parts or parts[0] in BASE:
        return "base"
    if parts[0] in {domain.resource for domain in domains.DOMAINS}:  # the registry's domains
        return ROLES.get(parts[1], "domain") if len(parts) > 1 else "base"  # a domain's __init__ holds nothing
    if parts[0] in TOP:
        return TOP[parts[0]]
    raise AssertionError(f"{module} is in no layer: add it to tests/unit/test_layers.py and docs/ARCHITECTURE.md")


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path | None = None) -> dict[str, dict[str, int]]:
    """Return ``{module: {imported courier module: line}}`` for every module under ``root`` (the package)."""
    root = root or PACKAGE
    modules = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{name}:{node.lineno}: relative import (Courier uses absolute imports)"
                base = node.module or ""
                # `from courier.jobs import outcomes` imports the module courier.jobs.outcomes
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target not in modules and "." in target:  # `import courier.x.y` of a non-module name
                    target = target.rsplit(".", 1)[0]
                if target in modules and target != name and target.split(".")[0] == root.name:
                    edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Return one cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(sorted(c), graph) for c in components]


def _cycle_in(component: list[str], graph: dict[str, dict[str, int]]) -> list[str]:
    """Return a path start -> ... -> start inside ``component`` (to print a readable cycle)."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node]):
            if nxt == start:
                return [*paths[node], start]
            if nxt in members and nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover - a component always has one


def describe(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in itertools.pairwise(cycle)) + f" -> {cycle[-1]}"


def upward_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    """Return every import from a module to a module of a higher layer, as readable lines."""
    found = []
    for module, edges in sorted(graph.items()):
        mine = LAYERS.index(layer_of(module))
        for target, line in sorted(edges.items()):
            theirs = LAYERS.index(layer_of(target))
            if theirs > mine:
                found.append(f"{module} ({LAYERS[mine]}) imports {target} ({LAYERS[theirs]}) at line {line}")
    return found


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    cycles = [describe(c, graph) for c in find_cycles(graph)]
    assert not cycles, "import cycles (function-level imports count):\n" + "\n".join(cycles)


def test_no_module_imports_a_higher_layer() -> None:
    upward = upward_imports(import_graph())
    assert not upward, "imports against the layering of docs/ARCHITECTURE.md:\n" + "\n".join(upward)


def test_the_graph_sees_function_level_imports_and_reports_a_cycle(tmp_path: Path) -> None:
    root = tmp_path / "courier"
    (root / "jobs").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "jobs" / "__init__.py").write_text("")
    (root / "jobs" / "trigger.py").write_text("def run():\n    from courier.jobs.operators import step\n")
    (root / "jobs" / "operators.py").write_text("from courier.jobs import trigger\n")
    graph = import_graph(root)
    assert graph["courier.jobs.trigger"] == {"courier.jobs.operators": 2}
    (cycle,) = find_cycles(graph)
    assert describe(cycle, graph) == (
        "courier.jobs.operators (line 1) -> courier.jobs.trigger (line 2) -> courier.jobs.operators"
    )
    assert upward_imports(graph) == ["courier.jobs.trigger (triggers) imports courier.jobs.operators (tasks) at line 2"]


def test_every_module_has_a_layer() -> None:
    assert {layer_of(module) for module in import_graph()} <= set(LAYERS)


WORKER_ONLY = ("courier.storage", "courier.jobs.processor_client", "courier.jobs.download")
"""What moves data or changes something outside: object storage (and so every storage writer, each of which
imports it), the jobs processor's submit/download/store side. Triggers only wait (docs/ARCHITECTURE.md,
"Where each thing runs"): the triggerer never loads these, even through other modules."""


def reachable(graph: dict[str, dict[str, int]], start: str) -> dict[str, list[str]]:
    """Every module ``start`` imports, directly or through others, with one import path to it."""
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph.get(node, {})):
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return paths


def worker_only_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    found = []
    for module in sorted(m for m in graph if layer_of(m) == "triggers"):
        for target, path in reachable(graph, module).items():
            if target in WORKER_ONLY or target.endswith(".storing"):  # a domain's storage writer
                found.append(f"{module} reaches {target}: {' -> '.join(path)}")
    return found


def test_no_trigger_module_loads_a_storage_writer_or_the_processor() -> None:
    found = worker_only_imports(import_graph())
    assert not found, "a trigger must only wait; these run on workers:\n" + "\n".join(found)


def test_the_trigger_check_sees_an_indirect_storage_writer(tmp_path: Path) -> None:
    root = tmp_path / "courier"
    (root / "reports").mkdir(parents=True)
    for name, text in {
        "__init__.py": "",
        "storage.py": "",
        "reports/__init__.py": "",
        "reports/storing.py": "from courier.storage import open_write\n",
        "reports/hook.py": "def f():\n    from courier.reports import storing\n",
        "reports/trigger.py": "from courier.reports.hook import f\n",
    }.items():
        (root / name).write_text(text)
    assert worker_only_imports(import_graph(root)) == [
        "courier.reports.trigger reaches courier.reports.storing: "
        "courier.reports.trigger -> courier.reports.hook -> courier.reports.storing",
        "courier.reports.trigger reaches courier.storage: "
        "courier.reports.trigger -> courier.reports.hook -> courier.reports.storing -> courier.storage",
    ]


def _doc_layer_table() -> dict[str, list[str]]:
    """``{layer: [every backticked name in its row]}`` of docs/ARCHITECTURE.md's layer table."""
    import re

    text = (PACKAGE.parents[1] / "docs" / "ARCHITECTURE.md").read_text()
    table = text[text.index("| layer (lowest first) |") :].split("\n\n", 1)[0].splitlines()[2:]
    rows = {}
    for row in table:
        layer, modules = (cell.strip() for cell in row.strip("|").split("|")[:2])
        rows[layer] = re.findall(r"`([^`]+)`", modules)
    return rows


def _modules_in(folder: str) -> set[str]:
    """The top-level modules (files and packages) of ``courier/<folder>``, ``__init__`` aside."""
    path = PACKAGE / folder
    return {p.stem for p in path.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in path.iterdir() if (p / "__init__.py").exists()
    }


def test_the_architecture_docs_layer_table_matches_the_code() -> None:
    """Every name in ARCHITECTURE.md's layer table is a module of the layer :func:`layer_of` gives it, and every
    module the table enumerates (base, the top-level ones, ``runtime/*``, ``ui/*``) is named there."""
    doc = _doc_layer_table()
    assert tuple(doc) == LAYERS
    domain_modules = set().union(*(_modules_in(d.resource) for d in domains.DOMAINS))
    listed = {"ui": _modules_in("ui"), "runtime": _modules_in("runtime")}
    named: set[str] = set()
    for layer, names in doc.items():
        for name in names:
            if name in ("courier", "__init__", "…"):
                continue
            if name.startswith("<domain>/"):
                role = name.removeprefix("<domain>/").removesuffix(".py")
                assert ROLES.get(role, "domain") == layer, f"{name} is in the {layer} row"
                continue
            module = name.removesuffix("/*")
            named.add(module)
            if layer == "base":
                assert module in BASE, f"{name} is in the base row but not in BASE"
            elif module in TOP:
                assert TOP[module] == layer, f"{name} is in the {layer} row, but it is {TOP[module]}"
            elif layer == "domain":
                assert module in domain_modules, f"{name}: no domain has such a module"
                assert module not in ROLES, f"{name} is a {ROLES[module]} module"
            else:
                owner = "ui" if layer == "interface" else "runtime"
                assert layer in ("interface", "entry") and module in listed[owner], f"{name}: no such {owner} module"
    assert named >= BASE, f"base modules the table does not name: {sorted(BASE - named)}"
    assert set(TOP) <= named, f"top-level modules the table does not name: {sorted(set(TOP) - named)}"
    for owner, modules in listed.items():
        assert modules <= named, f"{owner} modules the table does not name: {sorted(modules - named)}"
