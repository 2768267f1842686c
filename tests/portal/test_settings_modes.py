"""The environment alone picks the database, broker and cache (docs/ARCHITECTURE.md, Run modes)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

REPORT = """
import json
import django
django.setup()
from django.conf import settings
from django.db import connection
db = settings.DATABASES["default"]
journal = None
if db["ENGINE"].endswith("sqlite3"):
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        journal = cursor.fetchone()[0]
print(json.dumps({
    "engine": db["ENGINE"],
    "name": str(db["NAME"]),
    "transaction_mode": db.get("OPTIONS", {}).get("transaction_mode"),
    "journal": journal,
    "broker": settings.CELERY_BROKER_URL,
    "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    "cache": settings.CACHES["default"]["BACKEND"],
    "debug": settings.DEBUG,
    "base_url": settings.FIREBREAK_BASE_URL,
}))
"""

SERVICE_VARIABLES = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")


def settings_for(var_dir: Path, **variables: str) -> dict:
    inherited = {k: v for k, v in os.environ.items() if k not in (*SERVICE_VARIABLES, "DJANGO_ENV")}
    env = {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "FIREBREAK_VAR_DIR": str(var_dir),
        **variables,
    }
    result = subprocess.run(
        [sys.executable, "-c", REPORT],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_development_is_the_embedded_default(tmp_path):
    report = settings_for(tmp_path)

    assert report["engine"] == "django.db.backends.sqlite3"
    assert report["name"] == str(tmp_path / "firebreak.sqlite3")
    assert report["journal"] == "wal"
    assert report["transaction_mode"] == "IMMEDIATE"
    assert report["broker"].startswith("filesystem://")
    assert report["base_url"] == "http://127.0.0.1:8000"
    assert report["eager"] is False
    assert report["cache"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert report["debug"] is True


def test_service_urls_switch_to_postgresql_and_redis(tmp_path):
    report = settings_for(
        tmp_path,
        DATABASE_URL="postgres://firebreak@db.invalid:5432/firebreak",
        CELERY_BROKER_URL="redis://redis.invalid:6379/0",
        REDIS_URL="redis://redis.invalid:6379/1",
    )

    assert report["engine"] == "django.db.backends.postgresql"
    assert report["name"] == "firebreak"
    assert report["broker"] == "redis://redis.invalid:6379/0"
    assert report["eager"] is False
    assert report["cache"] == "django.core.cache.backends.redis.RedisCache"


def test_test_mode_without_services_is_self_contained(tmp_path):
    report = settings_for(tmp_path, DJANGO_ENV="test")

    assert report["engine"] == "django.db.backends.sqlite3"
    assert report["eager"] is True
    assert report["cache"] == "django.core.cache.backends.locmem.LocMemCache"


def test_links_follow_the_address_the_portal_is_served_on(tmp_path):
    assert settings_for(tmp_path, FIREBREAK_ADDR="127.0.0.1:8011")["base_url"] == (
        "http://127.0.0.1:8011"
    )
    explicit = settings_for(
        tmp_path, FIREBREAK_ADDR="0.0.0.0:80", FIREBREAK_BASE_URL="https://firebreak.example.com"
    )
    assert explicit["base_url"] == "https://firebreak.example.com"
