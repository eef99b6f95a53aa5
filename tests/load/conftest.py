"""Fixtures of the load generator's tests: test servers, started once per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.load.servers import Server, serve


@pytest.fixture(scope="module")
def fixed_server() -> Iterator[Server]:
    """Answers every request after 10 ms."""
    with serve("fixed", service_ms=10) as server:
        yield server
