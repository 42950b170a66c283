"""The jobs domain's fixtures: the demo processor."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def processor() -> Iterator[str]:
    """The demo processor on loopback (0.2 s a step), reset before and after; its URL."""
    from courier.demo import processor as demo_processor
    from courier.demo.app import create_app
    from courier.demo.server import serve_in_thread

    demo_processor.reset()
    demo_processor.STATE.config.delay = 0.2
    with serve_in_thread(create_app(["courier.demo.processor"])) as url:
        yield url
    demo_processor.reset()
