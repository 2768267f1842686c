"""Fixtures of the on-call health tests, over the builders in builders.py."""

from datetime import datetime
from types import ModuleType

import pytest

from . import builders


@pytest.fixture
def build(db) -> ModuleType:
    """Return the builders, with the database open to them."""
    return builders


@pytest.fixture
def frozen_now(monkeypatch) -> datetime:
    """Freeze the portal's clock at builders.NOW."""
    return builders.freeze(monkeypatch)


@pytest.fixture
def week(db, frozen_now) -> builders.Week:
    """Build the known week of two teams (builders.known_week) on the frozen clock."""
    return builders.known_week()


@pytest.fixture
def as_manager(client, manager_user):
    """Return the test client signed in as Max, a manager."""
    client.force_login(manager_user)
    return client
