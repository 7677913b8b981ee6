"""Fixtures for tests against real nginx, supervisord and gunicorn."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from . import early
from .harness import HostdUp

pytestmark = pytest.mark.integration


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if shutil.which("nginx") is None and shutil.which("nginx", path="/usr/sbin") is None:
        raise pytest.UsageError("integration tests need nginx: run them through ./dev test")


def pytest_collection_finish(session: pytest.Session) -> None:
    early.start_for({item.path.name for item in session.items})


def pytest_sessionfinish(session: pytest.Session) -> None:
    early.remove_all()


@pytest.fixture
def instance() -> Iterator[HostdUp]:
    """A fresh embedded instance (not started); everything it ran is gone afterwards."""
    up = HostdUp()
    yield up
    print(up.log())
    strays = up.cleanup()
    assert not strays, f"processes left behind: {strays}"
