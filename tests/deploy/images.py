"""Images for the deploy tests, built on this machine without any container registry.

- **Root filesystems**: ``debootstrap --variant=minbase bookworm`` with a few Debian packages, imported with
  ``docker import`` (``courier-standin-rootfs-<flavor>:<key>``).
- **Stand-in bases** (``tests/deploy/standin/``): ``courier-standin-airflow:<key>`` for the official
  ``apache/airflow:3.3.2-python3.11`` and ``courier-standin-postgres:<key>`` for ``postgres``. Each carries the
  label ``org.courier.standin`` and the file ``/etc/courier-standin``, so a test can show what it ran against.
- **Wheelhouse**: every locked wheel (``uv export --frozen --all-extras --no-dev`` → ``pip download``), plus uv
  and the build backend, downloaded on the host into ``/var/cache/courier-deploy/wheelhouse-<key>``.
- **Courier's image**: the project's ``Dockerfile`` built with ``--network none`` from a staged context that
  holds the project's files and the wheelhouse, ``--build-arg AIRFLOW_BASE_IMAGE=<stand-in>``.

Every key is a hash of the inputs, so a rerun with unchanged inputs reuses the images (the image store
persists in /var/lib/docker) and the wheelhouse. ``python -m tests.deploy.images`` builds everything and
prints the tags (a Docker daemon must answer).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).resolve().parent / "standin"
CACHE = Path(os.environ.get("COURIER_DEPLOY_CACHE", "/var/cache/courier-deploy"))
SUITE = "bookworm"
# What each root filesystem adds to debootstrap's minbase.
ROOTFS_PACKAGES = {
    "airflow": ("python3", "python3-venv", "curl", "ca-certificates", "dumb-init", "procps"),
    "postgres": ("postgresql-15", "dumb-init"),
}
# Installed by the Dockerfile besides the lock: uv (read from uv.lock's writer) and Courier's build backend.
BUILD_TOOLS = ("uv==0.13.9", "hatchling")
PIP = "pip==25.3"
DOWNLOAD_PYTHONS = tuple(dict.fromkeys(p for p in ("3.11", "/usr/bin/python3.11") if p == "3.11" or Path(p).exists()))
# What the Dockerfile's build context needs (the rest of the repository is never sent).
CONTEXT_FILES = ("Dockerfile", ".dockerignore", "pyproject.toml", "uv.lock", "README.md")
CONTEXT_DIRS = ("plugins", "dags", "include")
BUILD_ENV = {**os.environ, "DOCKER_BUILDKIT": "1"}  # the Dockerfile's RUN --mount needs BuildKit


def build_cli() -> str:
    """A docker CLI that builds with BuildKit: one with the buildx plugin, else Debian's 20.10 CLI (built in)."""
    if subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode == 0:
        return "docker"
    if Path("/usr/bin/docker").exists():
        return "/usr/bin/docker"
    raise RuntimeError("no docker CLI with BuildKit: install docker-buildx, or Debian's docker.io (make docker-tools)")


def log(message: str) -> None:
    print(f"[deploy-images {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(cmd: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    log("$ " + " ".join(cmd))
    return subprocess.run(list(cmd), check=True, text=True, **kwargs)  # type: ignore[call-overload,no-any-return]


def _files(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(
                p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
            )
        elif path.exists():
            out.append(path)
    return out


def key_of(*parts: str | Path) -> str:
    """A short hash of strings and of the contents (and relative names) of files and directories."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            for file in _files([part]):
                digest.update(str(file.relative_to(part.parent)).encode() + b"\0" + file.read_bytes() + b"\0")
        else:
            digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def image_size(tag: str) -> int:
    out = run(["docker", "image", "inspect", "--format", "{{.Size}}", tag], capture_output=True).stdout
    return int(out.strip())


def ensure_rootfs(flavor: str) -> str:
    packages = ROOTFS_PACKAGES[flavor]
    tag = f"courier-standin-rootfs-{flavor}:{key_of(SUITE, 'minbase', *packages)}"
    if image_exists(tag):
        return tag
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is missing: run `make docker-tools`")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"courier-rootfs-{flavor}-", dir="/var/tmp") as tmp:
        root = Path(tmp) / "root"
        run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", SUITE, str(root)],
            stdout=subprocess.DEVNULL,
        )
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (root / leftover).glob("*"):
                if item.is_file():
                    item.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        run(["docker", "import", "-", tag], stdin=tar.stdout, stdout=subprocess.DEVNULL)
        if tar.wait() != 0:
            raise RuntimeError(f"tar of {root} failed")
    log(f"{tag}: debootstrap + import in {time.monotonic() - started:.0f} s")
    return tag


def _build(tag: str, dockerfile: Path, context: Path, build_args: dict[str, str]) -> None:
    cmd = [build_cli(), "build", "--network", "none", "--progress", "plain", "--file", str(dockerfile), "--tag", tag]
    for name, value in build_args.items():
        cmd += ["--build-arg", f"{name}={value}"]
    started = time.monotonic()
    run([*cmd, str(context)], env=BUILD_ENV, stdout=sys.stderr)
    log(f"{tag}: built in {time.monotonic() - started:.0f} s")


def ensure_standin(flavor: str) -> str:
    """``courier-standin-airflow:<key>`` or ``courier-standin-postgres:<key>``."""
    rootfs = ensure_rootfs(flavor)
    inputs = [
        STANDIN / f"{flavor}.Dockerfile",
        STANDIN / ("entrypoint.sh" if flavor == "airflow" else "postgres-entrypoint.sh"),
    ]
    tag = f"courier-standin-{flavor}:{key_of(rootfs, *inputs)}"
    if not image_exists(tag):
        _build(tag, inputs[0], STANDIN, {"ROOTFS": rootfs})
    return tag


def _pip(*cmd: str) -> None:
    """Run pip, showing its errors but not its notes about configured find-links that do not exist here."""
    log("$ " + " ".join(cmd))
    result = subprocess.run(cmd, capture_output=True, text=True)
    noise = ("WARNING: Location", "Downloading pip", "Downloaded pip", "Installed 1 package")
    errors = "\n".join(line for line in result.stderr.splitlines() if not line.strip().startswith(noise))
    if result.returncode != 0:
        raise RuntimeError(f"pip download failed ({result.returncode}):\n{errors[-4000:]}")


def ensure_wheelhouse(repo: Path = REPO) -> Path:
    """Every wheel the Dockerfile installs, downloaded on the host (containers here cannot reach PyPI)."""
    key = key_of(repo / "uv.lock", repo / "pyproject.toml", *BUILD_TOOLS, PIP, *DOWNLOAD_PYTHONS)
    house = CACHE / f"wheelhouse-{key}"
    if (house / ".complete").exists():
        return house
    started = time.monotonic()
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix="wheelhouse-partial-", dir=CACHE))
    partial.chmod(0o755)  # readable by the image's uid 50000 when mounted
    # Seed with the wheels of earlier wheelhouses: pip download keeps a file already there with the pinned hash,
    # so a changed lock downloads only what changed.
    for earlier in sorted(CACHE.glob("wheelhouse-*/.complete")):
        for wheel in earlier.parent.glob("*.whl"):
            if not (partial / wheel.name).exists():
                os.link(wheel, partial / wheel.name)
    requirements = partial / "requirements.txt"
    run(
        [
            "uv", "export", "--quiet", "--project", str(repo), "--frozen", "--all-extras", "--no-dev",
            "--no-emit-project", "--format", "requirements.txt", "--output-file", str(requirements),
        ]
    )  # fmt: skip
    # pip from PyPI through uvx (the project's virtualenv has no pip). uv.lock has versions that differ by
    # Python patch level (markers on python_full_version, e.g. soupsieve below 3.11.5), and pip evaluates
    # markers with the interpreter it runs on: so once with a current 3.11 (like the official image's) and
    # once with Debian's 3.11.2 (the stand-in's), into the same directory.
    for python in DOWNLOAD_PYTHONS:
        pip = ["uvx", "--python", python, "--from", PIP, "pip", "download", "--quiet", "--disable-pip-version-check"]
        pip += ["--only-binary", ":all:", "--dest", str(partial)]
        _pip(*pip, "--no-deps", "--require-hashes", "--requirement", str(requirements))
        _pip(*pip, *BUILD_TOOLS)
    requirements.unlink()
    (partial / ".complete").write_text(json.dumps({"key": key, "seconds": round(time.monotonic() - started)}) + "\n")
    if house.exists():
        shutil.rmtree(house)
    partial.rename(house)
    # Keep the three newest wheelhouses (each ~200 MB; the wheels are hard links shared between them).
    done = sorted(CACHE.glob("wheelhouse-*/.complete"), key=lambda f: f.stat().st_mtime, reverse=True)
    for old in done[3:]:
        shutil.rmtree(old.parent, ignore_errors=True)
    log(f"wheelhouse {house}: {len(list(house.glob('*.whl')))} wheels in {time.monotonic() - started:.0f} s")
    return house


def _stage_context(into: Path, wheelhouse: Path, repo: Path) -> None:
    for name in CONTEXT_FILES:
        shutil.copy2(repo / name, into / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in CONTEXT_DIRS:
        shutil.copytree(repo / name, into / name, ignore=ignore)
    target = into / "wheelhouse"
    target.mkdir()
    for wheel in wheelhouse.glob("*.whl"):
        try:
            os.link(wheel, target / wheel.name)
        except OSError:
            shutil.copy2(wheel, target / wheel.name)


@dataclass(frozen=True)
class CourierImage:
    tag: str
    base: str
    wheelhouse: Path
    build_seconds: float


def build_courier_image(base: str | None = None, tag: str | None = None, repo: Path = REPO) -> CourierImage:
    """The project's Dockerfile on the stand-in base, offline; reused when nothing it reads changed."""
    base = base or ensure_standin("airflow")
    wheelhouse = ensure_wheelhouse(repo)
    key = key_of(base, wheelhouse.name, *(repo / n for n in CONTEXT_FILES), *(repo / n for n in CONTEXT_DIRS))
    tag = tag or f"airflow-courier:standin-{key}"
    started = time.monotonic()
    if not image_exists(tag):
        with tempfile.TemporaryDirectory(prefix="courier-build-context-", dir=str(CACHE)) as tmp:
            _stage_context(Path(tmp), wheelhouse, repo)
            _build(tag, Path(tmp) / "Dockerfile", Path(tmp), {"AIRFLOW_BASE_IMAGE": base})
    return CourierImage(tag=tag, base=base, wheelhouse=wheelhouse, build_seconds=time.monotonic() - started)


def standin_note(tag: str) -> str:
    """The stand-in label of an image (empty for an image not built on a stand-in)."""
    out = run(
        ["docker", "image", "inspect", "--format", '{{index .Config.Labels "org.courier.standin"}}', tag],
        capture_output=True,
    ).stdout.strip()
    return "" if out == "<no value>" else out


def main() -> None:
    image = build_courier_image()
    postgres = ensure_standin("postgres")
    print(
        json.dumps(
            {"courier_image": image.tag, "base": image.base, "postgres": postgres, "wheelhouse": str(image.wheelhouse)}
        )
    )


if __name__ == "__main__":
    main()
