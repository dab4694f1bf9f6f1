"""The design page's server, running in a thread on a free port, for the server and browser tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from dosefinding.design.app.server import DesignServer, design_server


@pytest.fixture(scope="module")
def server() -> Iterator[DesignServer]:
    running = design_server("127.0.0.1", 0)
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.shutdown()
        running.server_close()
        thread.join(10)
