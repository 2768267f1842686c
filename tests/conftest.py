import pytest

from tests import factories


@pytest.fixture
def alice(db):
    return factories.responder("alice", first_name="Alice")


@pytest.fixture
def bob(db):
    return factories.responder("bob", first_name="Bob")


@pytest.fixture
def carol(db):
    return factories.responder("carol", first_name="Carol")


@pytest.fixture
def viewer_user(db):
    return factories.viewer("vera")


@pytest.fixture
def manager_user(db):
    return factories.manager("max")


@pytest.fixture
def staff_user(db):
    return factories.staff("sam")


@pytest.fixture
def outsider(db):
    """Signed in, but in no portal group."""
    return factories.UserFactory(username="otto")


@pytest.fixture
def payments(db):
    team = factories.TeamFactory(name="Payments", slug="payments", email="payments@example.com")
    return factories.ServiceFactory(name="Payments API", slug="payments-api", team=team)
