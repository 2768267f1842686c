import pytest

from incidents.statuspage.models import Component, ComponentGroup


@pytest.fixture
def make_component(db):
    """Create a component (optionally in a named group)."""

    def make(name: str, *, group: str | None = None, **fields) -> Component:
        if group is not None:
            fields["group"], _ = ComponentGroup.objects.get_or_create(name=group)
        return Component.objects.create(name=name, **fields)

    return make
