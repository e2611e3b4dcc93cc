"""Loopback servers for gate tests: one where EP02 does no harm, one where it gets every fourth item wrong."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gate.gate_runs import answers
from loopback_server import LoopbackServer


@pytest.fixture
def harmless() -> Iterator[LoopbackServer]:
    server = LoopbackServer(reply=answers()).start()
    yield server
    server.stop()


@pytest.fixture
def harmful() -> Iterator[LoopbackServer]:
    server = LoopbackServer(reply=answers(regress_every=4)).start()
    yield server
    server.stop()
