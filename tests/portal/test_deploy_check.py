"""`DJANGO_ENV=production manage.py check --deploy` is clean with the variables the README lists."""

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

# The production variables the README documents.
PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "firebreak.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://firebreak.example.com",
    "DATABASE_URL": "postgres://firebreak:secret@db.example.com:5432/firebreak",
    "CELERY_BROKER_URL": "redis://redis.example.com:6379/0",
    "REDIS_URL": "redis://redis.example.com:6379/1",
    "FIREBREAK_BASE_URL": "https://firebreak.example.com",
}


def check_deploy(**overrides: str | None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **PRODUCTION_ENV, **overrides}
    env = {name: value for name, value in env.items() if value is not None}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_the_deploy_check():
    result = check_deploy()

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = check_deploy(DJANGO_SECRET_KEY=None)

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "warning"),
    [
        ({"DJANGO_DEBUG": "true"}, "security.W018"),
        ({"DJANGO_ALLOWED_HOSTS": None}, "security.W020"),
        ({"DJANGO_SECRET_KEY": "short"}, "security.W009"),
        ({"DJANGO_SECURE_HSTS_SECONDS": "0"}, "security.W004"),
    ],
)
def test_unsafe_production_settings_fail_the_deploy_check(overrides, warning):
    result = check_deploy(**overrides)

    assert result.returncode != 0
    assert warning in result.stderr
