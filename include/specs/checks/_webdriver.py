"""The subset of a Playwright page the shipped checks use, over the W3C WebDriver protocol (classic, HTTP).

For engines Playwright cannot drive without downloading its own build: WebKit through Debian's
``webkit2gtk-driver`` (``WebKitWebDriver``, the WebKitGTK engine). The driver is started on a free loopback
port for one cell and stopped after it; the protocol is plain JSON over HTTP (httpx), so no client library
is needed. Only what ``home.py``, ``search.py`` and ``login.py`` call is here.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class WebDriverError(RuntimeError):
    """The driver answered an error (its ``error`` and ``message``)."""


class Session:
    """One WebDriver session: ``request`` sends a command and returns its ``value``."""

    def __init__(self, http: httpx.Client, session_id: str) -> None:
        self.http = http
        self.id = session_id

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, f"/session/{self.id}{path}", json=body)
        value = response.json().get("value")
        if response.status_code >= 400:
            raise WebDriverError(f"{method} {path}: {value.get('error')}: {value.get('message')}")
        return value

    def script(self, source: str, *args: Any) -> Any:
        return self.request("POST", "/execute/sync", {"script": source, "args": list(args)})


class Locator:
    def __init__(self, session: Session, selector: str) -> None:
        self.session = session
        self.selector = selector

    def _ids(self) -> list[str]:
        found = self.session.request("POST", "/elements", {"using": "css selector", "value": self.selector})
        return [e[ELEMENT] for e in found]

    def _one(self) -> str:
        ids = self._ids()
        if not ids:
            raise WebDriverError(f"no element matches {self.selector!r}")
        return ids[0]

    def count(self) -> int:
        return len(self._ids())

    def inner_text(self) -> str:
        return str(self.session.request("GET", f"/element/{self._one()}/text"))

    def all_inner_texts(self) -> list[str]:
        return [str(self.session.request("GET", f"/element/{i}/text")) for i in self._ids()]

    def is_visible(self) -> bool:
        ids = self._ids()
        return bool(ids) and bool(self.session.request("GET", f"/element/{ids[0]}/displayed"))


class Page:
    """``goto``, ``title``, ``locator``, ``click``, ``fill``, ``wait_for_selector("text=…")``,
    ``wait_for_function``, ``viewport_size``, ``screenshot`` — as Playwright's sync page has them."""

    def __init__(self, session: Session, base: str, width: int, height: int) -> None:
        self.session = session
        self.viewport_size = {"width": width, "height": height}
        self.timeout = 15.0
        self._base = base

    def set_default_timeout(self, milliseconds: float) -> None:
        self.timeout = milliseconds / 1000

    def goto(self, url: str) -> None:
        self.session.request("POST", "/url", {"url": url})

    def title(self) -> str:
        return str(self.session.request("GET", "/title"))

    def locator(self, selector: str) -> Locator:
        return Locator(self.session, selector)

    def click(self, selector: str) -> None:
        self.session.request("POST", f"/element/{Locator(self.session, selector)._one()}/click", {})

    def fill(self, selector: str, text: str) -> None:
        """Empty the field (firing ``input``, as Playwright's fill does), then type ``text`` key by key."""
        element = Locator(self.session, selector)._one()
        self.session.script(
            "const e = arguments[0]; e.focus(); e.value = ''; e.dispatchEvent(new Event('input', {bubbles: true}));",
            {ELEMENT: element},
        )
        if text:
            self.session.request("POST", f"/element/{element}/value", {"text": text})

    def _until(self, check: Any, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {self.timeout:g}s for {what}")
            time.sleep(0.1)

    def wait_for_selector(self, selector: str) -> None:
        if selector.startswith("text="):
            text = selector.removeprefix("text=")
            self._until(lambda: text in str(self.session.script("return document.body.innerText")), selector)
        else:
            self._until(lambda: Locator(self.session, selector).count() > 0, selector)

    def wait_for_function(self, expression: str) -> None:
        self._until(lambda: bool(self.session.script(f"return ({expression})")), expression)

    def screenshot(self, path: str, full_page: bool = True) -> None:
        Path(path).write_bytes(base64.b64decode(self.session.request("GET", "/screenshot")))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def display() -> Iterator[dict[str, str]]:
    """The environment of a display for the browser: this one's ``DISPLAY``, else a private Xvfb (WebKitGTK's
    MiniBrowser has no headless mode) on a free display number, stopped afterwards."""
    import os
    import shutil

    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        yield dict(os.environ)
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise FileNotFoundError("no display and no Xvfb (`make browsers` installs xvfb)")
    read, write = os.pipe()  # Xvfb writes the display number it chose (-displayfd)
    server = subprocess.Popen(
        [xvfb, "-displayfd", str(write), "-screen", "0", "1600x1400x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as chosen:
            number = chosen.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        yield {**os.environ, "DISPLAY": f":{number}"}
    finally:
        server.terminate()
        server.wait(10)


@contextlib.contextmanager
def webkit_page(driver: str, width: int, height: int) -> Iterator[tuple[Page, str]]:
    """Start ``WebKitWebDriver`` on loopback (with a display), open a session whose viewport is ``width`` x
    ``height``; yield (the page, the engine's version); end the session, the driver and the display after."""
    with display() as environment:
        yield from _session(driver, width, height, environment)


def _session(driver: str, width: int, height: int, environment: dict[str, str]) -> Iterator[tuple[Page, str]]:
    port = free_port()
    process = subprocess.Popen(
        [driver, f"--port={port}", "--host=127.0.0.1"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            deadline = time.monotonic() + 10
            while True:
                try:
                    if http.get("/status").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise WebDriverError(f"{driver} did not answer on port {port}")
                time.sleep(0.1)
            capabilities = {"webkitgtk:browserOptions": {"args": ["--automation"]}}
            answer = http.post("/session", json={"capabilities": {"alwaysMatch": capabilities}})
            value = answer.json()["value"]
            if answer.status_code >= 400:
                raise WebDriverError(f"new session: {value.get('error')}: {value.get('message')}")
            session = Session(http, value["sessionId"])
            try:
                session.request("POST", "/window/rect", {"width": width, "height": height})
                inner = session.script("return [window.innerWidth, window.innerHeight]")
                session.request(
                    "POST", "/window/rect", {"width": 2 * width - inner[0], "height": 2 * height - inner[1]}
                )
                version = str(value["capabilities"].get("browserVersion", "?"))
                yield Page(session, http.base_url.host, width, height), version
            finally:
                with contextlib.suppress(Exception):
                    http.delete(f"/session/{session.id}")
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
