"""The compatibility layer: one environment (tests/compat/env.py) per session, built once per wheel."""

from __future__ import annotations

import pytest

from tests.compat.env import CompatEnv, build_env


@pytest.fixture(scope="session")
def compat_env() -> CompatEnv:
    env = build_env()
    what = f"built in {env.built_seconds:.0f}s" if env.built_seconds else "cached"
    print(f"\ncompat env {env.root.name}: Python {env.python_version}, {env.pins} ({what})", flush=True)
    return env
