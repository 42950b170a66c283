"""Every benchmark module imports: the names it takes from the package still exist where it takes them from.

Benchmarks are not run by ``make test`` (they take minutes to hours), so a refactor that moves a name would
otherwise break them silently until someone runs ``python -m bench.scale``. They are modules of the ``bench``
package, run from the repository root, so they import exactly as they do here.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _modules(folder: str) -> list[str]:
    return sorted(p.stem for p in (BENCH / folder).glob("*.py") if not p.stem.startswith("_"))


@pytest.mark.parametrize("name", _modules("."))
def test_each_figure_script_imports_and_has_main(name: str) -> None:
    assert callable(getattr(importlib.import_module(f"bench.{name}"), "main", None)), f"bench/{name}.py has no main()"


@pytest.mark.parametrize("name", _modules("scale"))
def test_each_scale_part_imports_and_measures(name: str) -> None:
    module = importlib.import_module(f"bench.scale.{name}")
    assert callable(getattr(module, "measure", None)), f"bench/scale/{name}.py has no measure()"


@pytest.mark.parametrize("name", _modules("lib"))
def test_each_helper_imports(name: str) -> None:
    importlib.import_module(f"bench.lib.{name}")


def test_bench_holds_only_figures_helpers_and_long_runs() -> None:
    loose = sorted(p.name for p in BENCH.glob("_*.py") if p.name != "__init__.py")
    assert not loose, f"helpers belong in bench/lib/: {loose}"
    assert importlib.import_module("bench.scale.__main__").__doc__
