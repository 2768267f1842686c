"""Rules of other apps that can hold a transition back, registered rather than imported.

An app that may forbid closing an incident (the postmortems app: a P1 can't close before its
postmortem is published) registers a guard in its `AppConfig.ready()`::

    @close_guard
    def postmortem_outstanding(incident: Incident) -> str: ...

A guard returns why the incident may not close, or "" when it may. See docs/ARCHITECTURE.md.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Incident

CloseGuard = Callable[["Incident"], str]
_close_guards: list[CloseGuard] = []


def close_guard(guard: CloseGuard) -> CloseGuard:
    """Register a rule asked before an incident closes (once per function)."""
    if guard not in _close_guards:
        _close_guards.append(guard)
    return guard


def close_blocker(incident: "Incident") -> str:
    """Return the first reason a registered guard gives against closing, or "" if none does."""
    for guard in _close_guards:
        reason = guard(incident)
        if reason:
            return reason
    return ""
