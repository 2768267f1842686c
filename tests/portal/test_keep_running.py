"""bin/keep-running: the worker and beat of the Procfile start again when they exit."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings

KEEP_RUNNING = Path(settings.BASE_DIR) / "bin" / "keep-running"


def wait_until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.05)


def test_a_command_that_dies_is_started_again_until_the_wrapper_is_stopped(tmp_path: Path):
    runs = tmp_path / "runs"
    # Dies at once the first two times, then stays up (as a worker whose broker came back).
    pid_file = tmp_path / "pid"
    command = (
        f"echo run >> {runs}; "
        f'if [ "$(wc -l < {runs})" -ge 3 ]; then echo $$ > {pid_file}; exec sleep 300; fi; exit 1'
    )
    wrapper = subprocess.Popen(
        [str(KEEP_RUNNING), "sh", "-c", command], stderr=subprocess.PIPE, text=True
    )
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), "third start")
        assert wrapper.poll() is None
    finally:
        wrapper.send_signal(signal.SIGTERM)
        _, stderr = wrapper.communicate(timeout=30)

    # Stopped, it stops the command (SIGTERM) instead of starting it again.
    assert wrapper.returncode == 128 + signal.SIGTERM
    assert runs.read_text().split() == ["run"] * 3
    assert stderr.count("exited with status 1; starting it again") == 2
    with pytest.raises(ProcessLookupError):  # the command ended before the wrapper did
        os.kill(int(pid_file.read_text()), 0)


def test_without_a_command_it_says_how_to_use_it():
    result = subprocess.run([str(KEEP_RUNNING)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "usage: keep-running COMMAND" in result.stderr
