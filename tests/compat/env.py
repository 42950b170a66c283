"""The compatibility layer's environment: the built wheel installed into a fresh virtualenv with the LOWEST
Airflow and providers ``pyproject.toml`` allows and the NEWEST Python it allows, the way a team installs
Courier into its Airflow (a constraints-style install: every bound pinned, nothing else resolved from the lock).

The main layers run uv.lock (the newest Airflow on Python 3.11); this is the other end of the tested range,
so the bounds in ``pyproject.toml`` are exactly what ran. The environment is cached under
``.courier/compat/`` by the hash of the wheel, the pins and the interpreter: a second run with the same
code reuses it (a changed wheel builds a new one and removes the old).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO
from tests.helpers import build_wheel

CACHE = REPO / ".courier" / "compat"
LAYOUT = "3"  # bump when the way the environment is built changes
HELD_BACK = ("cryptography", "fastapi")
"""Held at uv.lock's versions, as a team's Airflow holds them through Airflow's constraints file (on GitHub,
not PyPI, so not fetched here), rather than the newest releases an unconstrained install picks: Airflow 3.1.8
sets an attribute on ``MultiFernet``, which cryptography 51 made a Rust class without one (``airflow
connections add`` fails); with fastapi 0.165 (Airflow 3.2.2 sets no upper bound) the app's ``routes`` list
no ``APIRoute`` (tests/unit/test_api_auth.py), not investigated further."""


def _uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def project() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]  # type: ignore[no-any-return]


def lowest_pins() -> dict[str, str]:
    """``{requirement name (with extras): lower bound}`` for Airflow and every provider Courier depends on."""
    pins = {}
    for requirement in [*project()["dependencies"], *project()["optional-dependencies"]["openlineage"]]:
        match = re.fullmatch(
            r"(apache-airflow(?:-providers-[a-z0-9-]+)?(?:\[[a-z0-9,]+\])?)>=([0-9.]+),<[0-9.]+", requirement
        )
        if match:
            pins[match[1]] = match[2]
        else:
            assert not requirement.startswith("apache-airflow"), f"{requirement}: an Airflow pin needs >=low,<high"
    return pins


def newest_python() -> str:
    """The newest Python minor ``requires-python`` allows (``>=3.11,<3.14`` -> ``3.13``)."""
    match = re.search(r"<3\.(\d+)", project()["requires-python"])
    assert match, "requires-python needs an upper bound: the newest Python is what the compatibility layer runs"
    return f"3.{int(match[1]) - 1}"


def find_python(version: str) -> Path:
    """``COURIER_COMPAT_PYTHON``, else pyenv's newest ``version``, else ``python<version>`` on PATH."""
    if env := os.environ.get("COURIER_COMPAT_PYTHON"):
        return Path(env)
    candidates: list[Path] = []
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = Path(subprocess.run([pyenv, "root"], capture_output=True, text=True, check=True).stdout.strip())
        found = sorted(
            root.glob(f"versions/{version}.*/bin/python{version}"),
            key=lambda p: [int(x) for x in re.findall(r"\d+", p.parts[-3])],
        )
        candidates += reversed(found)
    on_path = shutil.which(f"python{version}")
    if on_path and "shims" not in on_path:
        candidates.append(Path(on_path))
    assert candidates, (
        f"the compatibility layer needs CPython {version} (the newest requires-python allows): install it "
        f"(pyenv install {version}) or set COURIER_COMPAT_PYTHON"
    )
    return candidates[0]


def unit_tools() -> tuple[str, ...]:
    """What tests/unit needs besides Courier: pyproject.toml's ``unit`` dependency group (one list, also in dev)."""
    group = tomllib.loads((REPO / "pyproject.toml").read_text())["dependency-groups"]["unit"]
    return tuple(re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0] for requirement in group)


def locked_versions(names: tuple[str, ...]) -> dict[str, str]:
    packages = tomllib.loads((REPO / "uv.lock").read_text())["package"]
    versions = {p["name"]: p["version"] for p in packages}
    return {name: versions[name] for name in names}


@dataclass
class CompatEnv:
    root: Path
    python_version: str
    pins: dict[str, str]
    wheel: Path
    built_seconds: float  # 0.0 when the cached environment was reused

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def environ(self, **extra: str) -> dict[str, str]:
        """A clean environment for a process of this virtualenv: its bin first on PATH, no developer settings."""
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "COURIER_", "VIRTUAL_ENV", "PYTHON"))
        }
        env.update(PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(self.root))
        env.update(AIRFLOW__CORE__LOAD_EXAMPLES="False", UV_PYTHON_DOWNLOADS="never", PYTHONDONTWRITEBYTECODE="1")
        env.update(extra)
        return env

    def run(self, argv: list[str], timeout: float = 600, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload,no-any-return]


def build_env(progress: object = print) -> CompatEnv:
    """Build the wheel, then return the cached environment for it, creating it when missing."""
    began = time.monotonic()
    CACHE.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix="courier-compat-wheel-"))
    wheel = build_wheel(out)
    version = newest_python()
    python = find_python(version)
    pins = lowest_pins()
    tools = locked_versions(unit_tools())
    held = locked_versions(HELD_BACK)
    key = hashlib.sha256()
    key.update(wheel.read_bytes())
    key.update(json.dumps([LAYOUT, str(python), pins, tools, held], sort_keys=True).encode())
    root = CACHE / f"env-{key.hexdigest()[:16]}"
    kept_wheel = CACHE / wheel.name
    shutil.copy(wheel, kept_wheel)  # the doc test installs this file, as a team installs a downloaded wheel
    shutil.rmtree(out, ignore_errors=True)
    if (root / ".ready").exists():
        return CompatEnv(root, version, pins, kept_wheel, 0.0)
    for old in CACHE.glob("env-*"):
        shutil.rmtree(old, ignore_errors=True)
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    venv = subprocess.run(
        [*_uv(), "venv", "--seed", "--python", str(python), str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert venv.returncode == 0, venv.stderr
    requirements = [f"{kept_wheel}[local,openlineage]", *(f"{name}=={low}" for name, low in pins.items())]
    requirements += [f"{name}=={v}" for name, v in {**tools, **held}.items()]
    installed = subprocess.run(
        [*_uv(), "pip", "install", "--python", str(root / "bin" / "python"), *requirements],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert installed.returncode == 0, f"installing {requirements} failed:\n{installed.stderr[-4000:]}"
    (root / ".ready").write_text(
        json.dumps({"python": str(python), "pins": pins, "tools": tools, "held": held}, indent=2)
    )
    return CompatEnv(root, version, pins, kept_wheel, time.monotonic() - began)
