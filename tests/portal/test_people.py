"""How the portal names a person: full name, else username; a fallback for nobody."""

from django.contrib.auth.models import AnonymousUser, User

from portal.people import display_name


def test_the_full_name_else_the_username():
    assert display_name(User(username="alice", first_name="Alice", last_name="Smith")) == (
        "Alice Smith"
    )
    assert display_name(User(username="bob")) == "bob"


def test_with_username_tells_namesakes_apart():
    alice = User(username="alice", first_name="Alice", last_name="Smith")

    assert display_name(alice, with_username=True) == "Alice Smith (alice)"
    assert display_name(User(username="bob"), with_username=True) == "bob"


def test_nobody_gets_the_fallback():
    assert display_name(None) == ""
    assert display_name(None, fallback="Someone") == "Someone"
    assert display_name(AnonymousUser(), fallback="—") == "—"
