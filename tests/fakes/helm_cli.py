"""The `fake_helm` fixture: the fake `helm` executable (tests/fakes/helm) first on the PATH.

The executable keeps releases in a JSON state file named by FAKE_HELM_STATE; `FakeHelm` seeds and
reads that file, injects failures, and returns the argument lists helm was run with.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

EXECUTABLE = Path(__file__).with_name("helm")


class FakeHelm:
    """Seed and inspect the fake helm's state file."""

    def __init__(self, state_path: Path, bin_dir: Path) -> None:
        self.state_path = state_path
        self.bin_dir = bin_dir
        self._write({"releases": {}, "contexts": None, "fail": {}, "sleep": {}, "calls": []})

    def add_release(
        self,
        name: str,
        *,
        namespace: str = "default",
        charts: list[tuple[str, str]],
    ) -> None:
        """Seed a release with one revision per (chart, app_version), installed then upgraded."""
        rows = []
        for number, (chart, app_version) in enumerate(charts, start=1):
            rows.append(
                {
                    "revision": number,
                    "updated": f"2026-11-30T0{min(number, 9)}:00:00.000000001Z",
                    "status": "deployed" if number == len(charts) else "superseded",
                    "chart": chart,
                    "app_version": app_version,
                    "description": "Install complete" if number == 1 else "Upgrade complete",
                }
            )
        state = self._read()
        state["releases"][f"{namespace}/{name}"] = rows
        self._write(state)

    def revisions(self, name: str, *, namespace: str = "default") -> list[dict[str, Any]]:
        """Return the stored revisions of a release (what helm would report), oldest first."""
        return list(self._read()["releases"].get(f"{namespace}/{name}", []))

    @property
    def calls(self) -> list[list[str]]:
        """Return the argument lists helm was run with, in order."""
        return list(self._read()["calls"])

    def fail(self, command: str, stderr: str, exit_code: int = 1) -> None:
        """Make every later `helm <command>` print `stderr` and exit with `exit_code`."""
        state = self._read()
        state["fail"][command] = {"stderr": stderr, "exit": exit_code}
        self._write(state)

    def sleep(self, command: str, seconds: float) -> None:
        """Make every later `helm <command>` hang for `seconds` first (for timeouts)."""
        state = self._read()
        state["sleep"][command] = seconds
        self._write(state)

    def set_contexts(self, contexts: list[str]) -> None:
        """Accept only these `--kube-context` names, like a kubeconfig that has only them."""
        state = self._read()
        state["contexts"] = contexts
        self._write(state)

    def _read(self) -> dict[str, Any]:
        return dict(json.loads(self.state_path.read_text(encoding="utf-8")))

    def _write(self, state: dict[str, Any]) -> None:
        self.state_path.write_text(json.dumps(state, indent=1), encoding="utf-8")


@pytest.fixture
def fake_helm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHelm:
    """Put the fake helm first on the PATH with an empty state file."""
    bin_dir = tmp_path / "fake-helm-bin"
    bin_dir.mkdir()
    (bin_dir / "helm").symlink_to(EXECUTABLE)
    fake = FakeHelm(tmp_path / "fake-helm-state.json", bin_dir)
    monkeypatch.setenv("FAKE_HELM_STATE", str(fake.state_path))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return fake
