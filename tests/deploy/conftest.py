"""The deploy layer: the real image and the real docker compose stack, on this machine's Docker engine.

Session fixtures other layers and branches may use (keep the names):

``docker_engine`` -> :class:`tests.deploy.engine.DockerEngine`
    A Docker daemon answering on /var/run/docker.sock. If one already answers it is reused and left running;
    otherwise ``dockerd`` is started in the background (log: /var/log/courier-tests-dockerd.log), and at the
    end of the session stopped by its pid, after which what it added to the host network is removed: links
    (``docker0``, veths) that were not there before, the iptables rules (restored from ``iptables-save``
    taken before the start) and ``net.ipv4.ip_forward``. The image store (/var/lib/docker) is kept.

``courier_image`` -> ``str``
    The tag of Courier's image built from the project's ``Dockerfile`` with ``--network none`` on a local
    stand-in for ``apache/airflow:3.3.2-python3.11`` (no registry can be reached here): see
    :mod:`tests.deploy.images` and ``tests/deploy/standin/``. Cached: the stand-in base, the postgres stand-in
    and the wheelhouse are keyed by hashes of their inputs (uv.lock, pyproject.toml, the stand-in files), the
    image tag by a hash of everything the build context holds, so a rerun with nothing changed builds nothing.
    Run a Kubernetes pod's container with ``docker run --rm <courier_image> ...`` (the entrypoint of the
    stand-in runs ``bash``/``python`` as given and anything else as ``airflow ...``, like the official one;
    ``--entrypoint`` replaces it, as a pod's ``command`` does).

``standin_postgres_image`` -> ``str``
    The postgres stand-in (Debian's PostgreSQL 15, the official image's environment and init-script interface).

Every container, network and volume a test creates is removed by that test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.deploy import images
from tests.deploy.engine import DockerEngine


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    started = time.monotonic()
    try:
        engine = DockerEngine.acquire()
    except RuntimeError as error:
        pytest.fail(f"no Docker engine: {error}")
    how = f"started dockerd (pid {engine.pid})" if engine.started else "reused the running daemon"
    print(f"\n[deploy] Docker {engine.server_version}: {how} in {time.monotonic() - started:.1f} s", flush=True)
    yield engine
    if engine.started:
        engine.stop()
        left = engine.host_leftovers()
        assert not left, f"dockerd left this on the host network: {left}"


@pytest.fixture(scope="session")
def courier_image(docker_engine: DockerEngine) -> str:
    started = time.monotonic()
    image = images.build_courier_image()
    print(
        f"\n[deploy] courier image {image.tag} on {image.base}"
        f" ({images.standin_note(image.base) or 'not a stand-in'}), ready in {time.monotonic() - started:.0f} s",
        flush=True,
    )
    return image.tag


@pytest.fixture(scope="session")
def standin_postgres_image(docker_engine: DockerEngine) -> str:
    tag = images.ensure_standin("postgres")
    print(f"\n[deploy] postgres image {tag} ({images.standin_note(tag)})", flush=True)
    return tag
