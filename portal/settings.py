"""Firebreak settings: one module, every value overridable by environment.

Three run modes (docs/ARCHITECTURE.md, Run modes):
- development (`make run`): SQLite in WAL mode, kombu's filesystem broker and a file cache,
  all under var/.
- test (`make test`): DATABASE_URL / CELERY_BROKER_URL / REDIS_URL when set, else SQLite, eager
  tasks and a local-memory cache.
- production: PostgreSQL, Redis, secure cookies and HSTS; `manage.py check --deploy` is clean.
"""

import sys
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("FIREBREAK_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DJANGO_ENV = env.str("DJANGO_ENV", default="test" if "pytest" in sys.modules else "development")
if DJANGO_ENV not in {"development", "test", "production"}:
    raise environ.ImproperlyConfigured(
        f"DJANGO_ENV must be development, test or production, not {DJANGO_ENV!r}"
    )
PRODUCTION = DJANGO_ENV == "production"
TESTING = DJANGO_ENV == "test"
if not PRODUCTION:
    VAR_DIR.mkdir(parents=True, exist_ok=True)

if PRODUCTION:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY")
else:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="insecure-development-key-" + "x" * 40)
DEBUG = env.bool("DJANGO_DEBUG", default=DJANGO_ENV == "development")
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# The portal's own public address, used in links that leave the portal (emails, ack links).
FIREBREAK_BASE_URL = env.str(
    "FIREBREAK_BASE_URL", default="http://" + env.str("FIREBREAK_ADDR", default="127.0.0.1:8000")
)
# Conference bridge for new incidents, e.g. "https://meet.example.com/inc-{number}". Empty: typed.
FIREBREAK_BRIDGE_URL_TEMPLATE = env.str("FIREBREAK_BRIDGE_URL_TEMPLATE", default="")

INSTALLED_APPS = [
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "portal.apps.PortalConfig",
    "incidents.apps.IncidentsConfig",
    "incidents.alerting.apps.AlertingConfig",
    "incidents.oncall.apps.OncallConfig",
    "incidents.statuspage.apps.StatuspageConfig",
    "incidents.chat.apps.ChatConfig",
    "incidents.runbooks.apps.RunbooksConfig",
    "incidents.health.apps.HealthConfig",
    "incidents.heartbeats.apps.HeartbeatsConfig",
    "postmortems.apps.PostmortemsConfig",
]

MIDDLEWARE = [
    # Before everything: refuses input no layer below could store (NUL, deep JSON), with a 4xx.
    "portal.input_guard.RequestGuardMiddleware",
    # First after it, so it can answer /status/ from the snapshot whatever fails below it.
    "incidents.statuspage.middleware.StatusSnapshotFallbackMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "firebreak.sqlite3"
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL lets readers run beside the writer, IMMEDIATE
    # takes the write lock at BEGIN so two writers queue on the busy timeout instead of failing
    # with "database is locked" half-way through a transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    # Persistent connections in service; none in tests, whose server threads must not keep any.
    DATABASES["default"].setdefault(
        "CONN_MAX_AGE", env.int("DJANGO_CONN_MAX_AGE", default=0 if TESTING else 60)
    )
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache --------------------------------------------------------------------------------------
# Deadlines of every Redis command (cache and broker) and of connecting: a Redis that stops
# answering costs a request seconds, never its whole life.
REDIS_SOCKET_TIMEOUT_SECONDS = 3.0
REDIS_CONNECT_TIMEOUT_SECONDS = 2.0
REDIS_CACHE_OPTIONS = {
    "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
    "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
}
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("FIREBREAK_CACHE_PREFIX", default="firebreak"),
            "OPTIONS": REDIS_CACHE_OPTIONS,
        }
    }
elif TESTING:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    # Shared by the web process, the worker and beat of `make run`.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Auth ---------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Messages live in the session, not in a cookie the browser can read (a new API token is one).
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "incidents:list"
LOGOUT_REDIRECT_URL = "login"
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- Internationalisation -----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("FIREBREAK_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))

# --- Email --------------------------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_FILE_PATH = env.str("DJANGO_EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
EMAIL_HOST = env.str("DJANGO_EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("DJANGO_EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("DJANGO_EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("DJANGO_EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("DJANGO_EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="firebreak@localhost")

# --- Security (production) ----------------------------------------------------------------------
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes DRF answer anonymous requests with 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.api.permissions.IsPortalReader"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Firebreak API",
    "DESCRIPTION": "Internal REST API of the Firebreak incident-response portal.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_PERMISSIONS": ["portal.api.permissions.IsPortalReader"],
    # The default hook, then the answers every endpoint taking an Idempotency-Key may give.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.idempotency.postprocess_schema",
        "portal.api.schema.document_common_errors",
    ],
}

# --- Celery -------------------------------------------------------------------------------------
_broker_from_env = env.str(
    "CELERY_BROKER_URL", default="" if TESTING else "filesystem://localhost/"
)
# Without a broker (the test default) tasks run in-process, right where they are enqueued.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not _broker_from_env)
CELERY_BROKER_URL = _broker_from_env or "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
if CELERY_BROKER_URL.startswith("filesystem:"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    for _folder in ("out", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
else:
    # Tasks are short; anything long re-schedules itself. A generous visibility timeout keeps
    # Redis from redelivering a task that is still running. Every command has a deadline: a
    # Redis that hangs (paused, overloaded, a dead peer behind a NAT) fails a publish within
    # seconds instead of holding the request that sends it. The worker's BRPOP is unaffected:
    # Redis answers it within its own 1 s wait, and kombu reads it only once it is readable.
    #
    # Priorities (docs/ARCHITECTURE.md, "Queues and priorities"): kombu keeps one Redis list per
    # queue and priority step, and a worker pops from its queues' lists lowest number first, so
    # a P1's wake-up (priority 1) is taken before the P3 ones (3) queued ahead of it. Ten steps,
    # one per priority (kombu's default folds them into four: P1 and P2 would share one). At
    # the same priority, queues are taken in the order the worker's --queues names them. The
    # separator stays kombu's own: kombu also joins the stored queue bindings with it, and those
    # written before a change of separator would no longer read back.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
        "socket_keepalive": True,
        "priority_steps": list(range(10)),
        "queue_order_strategy": "priority",
    }
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # kombu's Redis transport, made to treat a closed connection as lost (portal.celery).
    CELERY_BROKER_TRANSPORT = "portal.celery:RedisTransport"
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_CONNECT_TIMEOUT_SECONDS
# A worker reconnects for as long as the broker is away (Celery gives up after 100 tries, about
# 50 minutes, by default) and waits for it at start too.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A task running when the connection drops finishes: its result is in the database, and only
# its acknowledgement is lost (Celery 6 would cancel it instead).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# A publish that fails is not retried (each retry reconnects, twice, each up to the socket
# timeout): every message is a wake-up whose timer row a sweep also fires, and redis-py already
# replaces a pooled connection that a restarted Redis closed.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 0}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "portal.tasks.*": {"queue": "paging"},
    "incidents.oncall.*": {"queue": "paging"},
    "incidents.heartbeats.*": {"queue": "paging"},
    "incidents.runbooks.*": {"queue": "jobs"},
    "*": {"queue": "default"},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# How long the acknowledge link in a page stays valid.
FIREBREAK_ACK_LINK_MAX_AGE_SECONDS = env.int("FIREBREAK_ACK_LINK_MAX_AGE_SECONDS", default=3600)
# How long a worker's claim on a due timer holds; a claim whose worker died expires after it.
FIREBREAK_TIMER_LEASE_SECONDS = env.int("FIREBREAK_TIMER_LEASE_SECONDS", default=60)
# The public status page is also written here as static files after every change, and served
# from here while the database or cache is down ("" turns it off; tests turn it on per test).
FIREBREAK_STATUS_SNAPSHOT_DIR = env.str(
    "FIREBREAK_STATUS_SNAPSHOT_DIR", default="" if TESTING else str(VAR_DIR / "status-snapshot")
)
# Status page subscriptions: a webhook subscriber failing this many deliveries in a row is
# disabled; subscribe forms are rate limited per client address and per subscribed address.
FIREBREAK_WEBHOOK_MAX_FAILURES = env.int("FIREBREAK_WEBHOOK_MAX_FAILURES", default=10)
FIREBREAK_SUBSCRIBE_LIMIT_PER_IP_PER_HOUR = env.int(
    "FIREBREAK_SUBSCRIBE_LIMIT_PER_IP_PER_HOUR", default=10
)
FIREBREAK_SUBSCRIBE_LIMIT_PER_ADDRESS_PER_DAY = env.int(
    "FIREBREAK_SUBSCRIBE_LIMIT_PER_ADDRESS_PER_DAY", default=3
)
# Reverse proxies in front of the portal whose X-Forwarded-For entries are trusted (0: none).
FIREBREAK_TRUSTED_PROXY_HOPS = env.int("FIREBREAK_TRUSTED_PROXY_HOPS", default=0)
# Postmortems: due this many business days after resolution; approvals needed to publish.
FIREBREAK_POSTMORTEM_DUE_BUSINESS_DAYS = env.int(
    "FIREBREAK_POSTMORTEM_DUE_BUSINESS_DAYS", default=5
)
FIREBREAK_POSTMORTEM_APPROVALS_REQUIRED = env.int(
    "FIREBREAK_POSTMORTEM_APPROVALS_REQUIRED", default=1
)
# Slack: off unless both the bot token and the signing secret are set. The API address is
# Slack's own; tests point it at a local fake. The announcement channel hears every declaration;
# an incident's own channel is archived this long after the incident is closed.
FIREBREAK_SLACK_BOT_TOKEN = env.str("FIREBREAK_SLACK_BOT_TOKEN", default="")
FIREBREAK_SLACK_SIGNING_SECRET = env.str("FIREBREAK_SLACK_SIGNING_SECRET", default="")
FIREBREAK_SLACK_API_URL = env.str("FIREBREAK_SLACK_API_URL", default="https://slack.com/api/")
FIREBREAK_SLACK_ANNOUNCE_CHANNEL = env.str("FIREBREAK_SLACK_ANNOUNCE_CHANNEL", default="#incidents")
FIREBREAK_SLACK_ARCHIVE_AFTER_HOURS = env.float("FIREBREAK_SLACK_ARCHIVE_AFTER_HOURS", default=24.0)
# An alert storm's one message in the announcement channel is edited at most this often.
FIREBREAK_SLACK_STORM_EDIT_SECONDS = env.float("FIREBREAK_SLACK_STORM_EDIT_SECONDS", default=10.0)
# A team mailed within this many minutes gets further P3/P4 news in one digest mail at the end
# of the interval (P1/P2 news is always mailed at once); 0 mails everything at once.
FIREBREAK_TEAM_DIGEST_MINUTES = env.float("FIREBREAK_TEAM_DIGEST_MINUTES", default=5.0)
# Kubernetes jobs: a preview older than this must be refreshed before it is confirmed; a
# preview or a run not finished within its timeout fails (it is never retried blindly); the
# wait for a rollout after a change gives up after its limit, looking every few seconds.
FIREBREAK_JOB_PREVIEW_MAX_AGE_MINUTES = env.float(
    "FIREBREAK_JOB_PREVIEW_MAX_AGE_MINUTES", default=10
)
FIREBREAK_JOB_PREVIEW_TIMEOUT_MINUTES = env.float(
    "FIREBREAK_JOB_PREVIEW_TIMEOUT_MINUTES", default=5
)
FIREBREAK_JOB_RUN_TIMEOUT_MINUTES = env.float("FIREBREAK_JOB_RUN_TIMEOUT_MINUTES", default=15)
FIREBREAK_JOB_ROLLOUT_WAIT_MINUTES = env.float("FIREBREAK_JOB_ROLLOUT_WAIT_MINUTES", default=15)
FIREBREAK_JOB_ROLLOUT_POLL_SECONDS = env.float("FIREBREAK_JOB_ROLLOUT_POLL_SECONDS", default=5)
# On-call health: detection slower than this (impact start to detection) asks for better
# alerts on the after-incident checklist; the weekly report goes out on this ISO weekday
# (1 = Monday) at this hour of each team's own time zone.
FIREBREAK_SLOW_DETECTION_MINUTES = env.float("FIREBREAK_SLOW_DETECTION_MINUTES", default=10)
FIREBREAK_WEEKLY_REPORT_WEEKDAY = env.int("FIREBREAK_WEEKLY_REPORT_WEEKDAY", default=1)
FIREBREAK_WEEKLY_REPORT_HOUR = env.int("FIREBREAK_WEEKLY_REPORT_HOUR", default=9)
# API: a creating POST's answer is replayed for a repeat with its Idempotency-Key this long.
FIREBREAK_IDEMPOTENCY_TTL_HOURS = env.float("FIREBREAK_IDEMPOTENCY_TTL_HOURS", default=24.0)
# Alert grouping, the defaults of services that set none (docs/ARCHITECTURE.md, Storms,
# grouping rules and flapping): more than STORM_THRESHOLD alert groups opening incidents on one
# service within STORM_WINDOW_MINUTES start an alert storm incident; an alert firing again within
# FLAP_WINDOW_MINUTES of resolving reopens its incident. 0 turns either off.
FIREBREAK_STORM_THRESHOLD = env.int("FIREBREAK_STORM_THRESHOLD", default=10)
FIREBREAK_STORM_WINDOW_MINUTES = env.int("FIREBREAK_STORM_WINDOW_MINUTES", default=5)
FIREBREAK_FLAP_WINDOW_MINUTES = env.int("FIREBREAK_FLAP_WINDOW_MINUTES", default=15)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Timers are rows; a sweep per queue, sent to that queue's worker, fires whatever of it is
    # due, whatever happened to its wake-up, most urgent first. Priority 0: before wake-ups.
    **{
        f"timers-sweep-{queue}": {
            "task": "portal.tasks.timers_sweep_task",
            "schedule": env.float("FIREBREAK_TIMER_SWEEP_SECONDS", default=10.0),
            "kwargs": {"queue": queue},
            "options": {"queue": queue, "priority": 0, "expires": 30},
        }
        for queue in ("paging", "default", "jobs")
    },
    # Opens an incident for each heartbeat not pinged by its alarm time; the state is on the
    # heartbeat's row, so a lost or doubled run neither loses nor doubles a miss. Priority 0,
    # as the sweeps: a page it starts must not wait behind a backlog of wake-ups.
    "heartbeats-check": {
        "task": "incidents.heartbeats.tasks.heartbeats_check_task",
        "schedule": env.float("FIREBREAK_TIMER_SWEEP_SECONDS", default=10.0),
        "options": {"queue": "paging", "priority": 0, "expires": 30},
    },
    # Writes the status page's static snapshot when none is current (also before the first
    # change after a deploy); changes themselves refresh it at once.
    "statuspage-snapshot": {
        "task": "incidents.statuspage.snapshot_tasks.statuspage_snapshot_task",
        "schedule": env.float("FIREBREAK_STATUS_SNAPSHOT_SECONDS", default=15 * 60.0),
        "kwargs": {"periodic": True},
        "options": {"expires": 14 * 60},
    },
    # Turns the next 36 hours of postmortem and action-item reminders (and the weekly digest)
    # into timers, keyed per item, kind and local day, so a duplicate run schedules nothing new.
    "postmortems-reminders-plan": {
        "task": "postmortems.tasks.reminders_plan_task",
        "schedule": env.float("FIREBREAK_REMINDER_PLAN_SECONDS", default=3600.0),
        "options": {"expires": 1800},
    },
    # Mails each team's weekly on-call report once its local sending time of a new week has
    # passed; a WeeklyReport row per team and week makes a repeated run send nothing.
    "health-weekly-reports": {
        "task": "incidents.health.tasks.weekly_reports_task",
        "schedule": env.float("FIREBREAK_WEEKLY_REPORT_CHECK_SECONDS", default=3600.0),
        "options": {"expires": 1800},
    },
    # Deletes the stored answers of Idempotency-Keys older than FIREBREAK_IDEMPOTENCY_TTL_HOURS
    # (an expired key is never replayed, swept or not).
    "idempotency-keys-purge": {
        "task": "portal.idempotency_tasks.idempotency_keys_purge_task",
        "schedule": env.float("FIREBREAK_IDEMPOTENCY_PURGE_SECONDS", default=3600.0),
        "options": {"expires": 1800},
    },
}
CELERY_TIMEZONE = "UTC"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("FIREBREAK_LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
