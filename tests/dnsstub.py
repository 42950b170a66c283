"""A DNS server on 127.0.0.1 (UDP) for tests: answers the names it is given, swallows every other query.

Point Courier's API lookups at it with ``courier.webhooks.policy.NAME_SERVERS = ((host, port),)``. A query
for a name not in ``answers`` is recorded and never answered: a name server that does not answer.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class DnsStub:
    def __init__(self, answers: dict[str, str], delay: float = 0.0) -> None:
        self.answers = {name.rstrip(".").lower(): address for name, address in answers.items()}
        self.delay = delay
        self.queries: list[tuple[str, str]] = []  # (name, type)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.address: tuple[str, int] = self._sock.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dns-stub", daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            self.queries.append((name, dns.rdatatype.to_text(question.rdtype)))
            if name not in self.answers:
                continue  # swallowed: this name server never answers
            threading.Timer(self.delay, self._answer, (query, name, question.rdtype, peer)).start()

    def _answer(self, query: dns.message.Message, name: str, rdtype: int, peer: tuple[str, int]) -> None:
        response = dns.message.make_response(query)
        if rdtype == dns.rdatatype.A:
            response.answer.append(dns.rrset.from_text(name + ".", 60, "IN", "A", self.answers[name]))
        with contextlib.suppress(OSError):  # stopped meanwhile
            self._sock.sendto(response.to_wire(), peer)

    def names_asked(self) -> list[str]:
        return sorted({name for name, kind in self.queries if kind == "A"})

    def __enter__(self) -> DnsStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        time.sleep(self.delay)
        self._sock.close()
