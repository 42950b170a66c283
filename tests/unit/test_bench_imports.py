"""Every benchmark script imports: the names it takes from the package still exist where it takes them from.

Benchmarks are not run by ``make test`` (they take minutes to hours), so a refactor that moves a name would
otherwise break them silently until someone runs ``bench/scale.py``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("script", sorted(p.stem for p in BENCH.glob("*.py")))
def test_benchmark_script_imports(script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    module = importlib.import_module(script)
    assert module.__file__ is not None and Path(module.__file__).parent == BENCH
    if not script.startswith("_") and script != "scale":
        assert hasattr(module, "main"), f"bench/{script}.py has no main()"
    if script.startswith("_scale_"):
        assert callable(getattr(module, "measure", None)), f"bench/{script}.py has no measure()"
    sys.modules.pop(script, None)
