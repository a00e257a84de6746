"""Settings come from the environment with safe development defaults.

MINAN_ENV is one of development (default), test or production. Production refuses the development
secret key and turns on every `check --deploy` protection.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("MINAN_VAR_DIR", BASE_DIR / "var"))
# The SQLite database, Huey's queue, uploads, the audit key and anchors live here: a new MINAN_VAR_DIR is
# created on first use instead of every command failing with "unable to open database file".
try:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
except OSError as error:
    raise ImproperlyConfigured(f"MINAN_VAR_DIR {VAR_DIR} cannot be created: {error.strerror}") from None

ENV = os.environ.get("MINAN_ENV", "development")
if ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"MINAN_ENV must be development, test or production, not {ENV!r}")
PRODUCTION = ENV == "production"


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEV_SECRET_KEY = "django-insecure-minan-development-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
if PRODUCTION and (SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured(
        "Production needs its own SECRET_KEY (at least 50 random characters); "
        "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(64))'"
    )

# DEBUG shows Django's debug page (settings, paths, URL list) on any error: only for development with
# `minan runserver`. `minan serve` (and so `make demo`) runs its processes with DEBUG=0 unless DEBUG is
# set explicitly; errors then get the product's own 400/403/404/500 pages (minan/templates/).
DEBUG = env_bool("DEBUG", ENV == "development")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "huey.contrib.djhuey",
    "minan.core",
    "minan.regions",
    "minan.accounts",
    "minan.core.audit",
    "minan.institutions",
    "minan.duty",
    "minan.public",
    "minan.notify",
    "minan.hazards",
    "minan.inspections",
    "minan.firewatch",
    "minan.demo",  # last: the demo builder knows every app
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "minan.core.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "minan.core.middleware.DefaultLanguageMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "minan.core.limits.QueryIntegerMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "minan.accounts.middleware.AccountPolicyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "minan.urls"
WSGI_APPLICATION = "minan.wsgi.application"
ASGI_APPLICATION = "minan.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "minan" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "minan.core.context_processors.shell",
                "minan.notify.context_processors.unread",
            ],
        },
    }
]

# SQLite under var/ by default; DATABASE_URL selects PostgreSQL (or another SQLite file).
DEFAULT_DATABASE_URL = f"sqlite:///{VAR_DIR / 'minan.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front: no deadlock on lock upgrade.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "minan.accounts.backends.PolicyModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Password policy: length, 3 of 4 classes, not common, no reuse of recent ones.
PASSWORD_MIN_LENGTH = env_int("MINAN_PASSWORD_MIN_LENGTH", 8)
PASSWORD_HISTORY = env_int("MINAN_PASSWORD_HISTORY", 5)
PASSWORD_MAX_AGE_DAYS = env_int("MINAN_PASSWORD_MAX_AGE_DAYS", 90)  # 0 = never expires
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "minan.accounts.validators.CharacterClassValidator", "OPTIONS": {"min_classes": 3}},
    {"NAME": "minan.accounts.validators.PasswordHistoryValidator"},
]

# Lockout (django-axes): 5 failures lock the account and, separately, the client address, for 30 min.
AXES_FAILURE_LIMIT = env_int("MINAN_LOCKOUT_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("MINAN_LOCKOUT_MINUTES", 30))
# Separate lists: the account and the address are each counted on their own.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A success must not clear the address's count (password spraying interleaved with a valid login);
# accounts.signals clears only the signed-in account's own failures from that address.
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_CALLABLE = "minan.accounts.views.lockout_response"
AXES_VERBOSE = False
# The client address behind MINAN_PROXY_COUNT trusted reverse proxies (minan/core/clients.py): lockouts,
# the audit trail and the public pages' rate limit count per real client, never per proxy.
PROXY_COUNT = max(0, env_int("MINAN_PROXY_COUNT", 0))
AXES_CLIENT_IP_CALLABLE = "minan.core.clients.client_address"

# API tokens (accounts.ApiToken): days until a new token expires.
API_TOKEN_DAYS = max(1, env_int("MINAN_API_TOKEN_DAYS", 90))
# Live tokens per account; issuing one more revokes the oldest (a script that asks on every run).
API_TOKEN_MAX_PER_USER = max(1, env_int("MINAN_API_TOKEN_MAX", 10))

# Idle timeout: the session cookie lives this long after the last request.
SESSION_IDLE_MINUTES = env_int("MINAN_SESSION_IDLE_MINUTES", 30)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Accounts unused (or past their expiry date) this long are disabled by the daily sweep.
ACCOUNT_DORMANT_DAYS = env_int("MINAN_ACCOUNT_DORMANT_DAYS", 90)
OTP_TOTP_ISSUER = os.environ.get("MINAN_TOTP_ISSUER", "MinAn 民安")
RECOVERY_CODE_COUNT = 10

# Audit trail: at least 180 days online (网络安全法 Art. 21), default 365; older rows are archived.
AUDIT_RETENTION_DAYS = max(180, env_int("MINAN_AUDIT_RETENTION_DAYS", 365))
AUDIT_ARCHIVE_DIR = Path(os.environ.get("MINAN_AUDIT_ARCHIVE_DIR", VAR_DIR / "audit-archive"))
# The chain's HMAC key lives outside the database (docs/security.md): MINAN_AUDIT_KEY (older keys,
# kept for verification, in MINAN_AUDIT_OLD_KEYS) or a key file, one key a line, the current first.
# Outside production a missing key file under var/ is generated on first use.
AUDIT_KEY = os.environ.get("MINAN_AUDIT_KEY", "").strip()
AUDIT_OLD_KEYS = env_list("MINAN_AUDIT_OLD_KEYS", "")
AUDIT_KEY_FILE = Path(os.environ.get("MINAN_AUDIT_KEY_FILE", VAR_DIR / "audit.key"))
if PRODUCTION and not (len(AUDIT_KEY) >= 32 or os.environ.get("MINAN_AUDIT_KEY_FILE")):
    raise ImproperlyConfigured(
        "Production needs MINAN_AUDIT_KEY (at least 32 random characters) or MINAN_AUDIT_KEY_FILE, "
        "kept outside the database; generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
    )
if PRODUCTION and not AUDIT_KEY and not AUDIT_KEY_FILE.is_file():
    raise ImproperlyConfigured(f"MINAN_AUDIT_KEY_FILE: no audit key file at {AUDIT_KEY_FILE}")
# Anchors of the chain head, appended outside the database (and logged); off in tests unless set.
AUDIT_ANCHOR_FILE = os.environ.get(
    "MINAN_AUDIT_ANCHOR_FILE", "" if ENV == "test" else str(VAR_DIR / "audit-anchors.log")
)
AUDIT_ANCHOR_MINUTES = min(59, max(1, env_int("MINAN_AUDIT_ANCHOR_MINUTES", 10)))

# 包保: cadres responsible for more institutions than this are flagged.
CADRE_MAX_LOAD = env_int("MINAN_CADRE_MAX_LOAD", 15)

# Notifications (docs/notifications.md).
NOTIFY_MAX_ATTEMPTS = max(1, env_int("MINAN_NOTIFY_MAX_ATTEMPTS", 5))
NOTIFY_RETRY_SECONDS = env_int("MINAN_NOTIFY_RETRY_SECONDS", 30)  # first retry; doubles each time
NOTIFY_TIMEOUT_SECONDS = env_int("MINAN_NOTIFY_TIMEOUT_SECONDS", 10)
NOTIFY_STALE_CLAIM_SECONDS = env_int("MINAN_NOTIFY_STALE_CLAIM_SECONDS", 300)  # a worker died mid-send
NOTIFY_DIGEST_MINUTES = env_int("MINAN_NOTIFY_DIGEST_MINUTES", 60)
SMS_PER_NUMBER_PER_DAY = env_int("MINAN_SMS_PER_NUMBER_PER_DAY", 50)
SMS_GATEWAY = os.environ.get("MINAN_SMS_GATEWAY", "minan.notify.transports.WebhookSmsGateway")
# Channel secrets are encrypted with this Fernet key; by default one derived from SECRET_KEY (then
# changing SECRET_KEY makes stored secrets unreadable: set MINAN_ENCRYPTION_KEY in production).
ENCRYPTION_KEY = os.environ.get("MINAN_ENCRYPTION_KEY", "")
DEFAULT_FROM_EMAIL = os.environ.get("MINAN_EMAIL_FROM", "MinAn 民安 <noreply@localhost>")
EMAIL_HOST = os.environ.get("MINAN_EMAIL_HOST", "")
EMAIL_PORT = env_int("MINAN_EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("MINAN_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("MINAN_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("MINAN_EMAIL_TLS", False)
EMAIL_USE_SSL = env_bool("MINAN_EMAIL_SSL", False)
EMAIL_TIMEOUT = NOTIFY_TIMEOUT_SECONDS
if ENV == "test":
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
elif EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:  # no mail server configured: messages are written to the log
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# Hazards: which level supervises (挂牌督办) major hazards, accepting and closing them: county or city.
HAZARD_SUPERVISING_LEVEL = os.environ.get("MINAN_HAZARD_SUPERVISING_LEVEL", "county")
if HAZARD_SUPERVISING_LEVEL not in {"county", "city"}:
    raise ImproperlyConfigured("MINAN_HAZARD_SUPERVISING_LEVEL must be county or city")
# Who approves pausing a hazard's deadline clock: "issuer" (whoever may issue
# rectification notices over the hazard; a major hazard's supervising level), "county" or "city" (a
# notice issuer whose scope holds the hazard's whole county or city).
HAZARD_PAUSE_APPROVER = os.environ.get("MINAN_HAZARD_PAUSE_APPROVER", "issuer")
if HAZARD_PAUSE_APPROVER not in {"issuer", "county", "city"}:
    raise ImproperlyConfigured("MINAN_HAZARD_PAUSE_APPROVER must be issuer, county or city")
# 回头看: every closed major hazard and this share (%) of closed general ones are re-verified, this many
# working days after closure.
REVISIT_GENERAL_SHARE = env_int("MINAN_REVISIT_GENERAL_SHARE", 10)
REVISIT_AFTER_WORKING_DAYS = env_int("MINAN_REVISIT_AFTER_WORKING_DAYS", 30)
# Escalation after the due day, in working days: to the county officer, then to the city safety office.
HAZARD_ESCALATE_AFTER = tuple(int(n) for n in os.environ.get("MINAN_HAZARD_ESCALATE_AFTER", "3,7").split(","))
if len(HAZARD_ESCALATE_AFTER) != 2 or not 0 < HAZARD_ESCALATE_AFTER[0] < HAZARD_ESCALATE_AFTER[1]:
    raise ImproperlyConfigured("MINAN_HAZARD_ESCALATE_AFTER must be two increasing numbers, e.g. 3,7")
# Inspection plans: automatic assignment gives one person at most this many tasks due on the same day.
INSPECTION_DAILY_CAP = env_int("MINAN_INSPECTION_DAILY_CAP", 8)
if INSPECTION_DAILY_CAP < 1:
    raise ImproperlyConfigured("MINAN_INSPECTION_DAILY_CAP must be at least 1")

# 智慧消防: after a fire alarm on a control panel, faults of that panel raise nothing for this long.
FIRE_INHIBITS_FAULTS_SECONDS = env_int("MINAN_FIRE_INHIBITS_FAULTS_SECONDS", 600)
# The first message of an alarm other than fire waits this long for others of its institution, which
# it then goes out with (0 = at once). Fire is never delayed.
ALARM_GROUP_WAIT_SECONDS = env_int("MINAN_ALARM_GROUP_WAIT_SECONDS", 60)
# Acknowledgement expiry (0 = off): an acknowledged alarm not cleared after this many
# minutes reminds whoever acknowledged it and the on-duty staff, again every as many minutes.
FIRE_ACK_EXPIRY_MINUTES = env_int("MINAN_FIRE_ACK_EXPIRY_MINUTES", 0)
ALARM_ACK_EXPIRY_MINUTES = env_int("MINAN_ALARM_ACK_EXPIRY_MINUTES", 0)
# A fire-system fault (or offline) alarm not cleared for this many hours becomes a hazard.
FIRE_FAULT_HAZARD_HOURS = env_int("MINAN_FIRE_FAULT_HAZARD_HOURS", 24)
# Causes offered when a fire alarm is closed as a false alarm (CONFIGURABLE).
FIRE_FALSE_ALARM_CAUSES = [
    ("dust", _("dust")),
    ("steam", _("steam")),
    ("cooking_smoke", _("cooking smoke")),
    ("insects", _("insects")),
    ("detector_fault", _("detector fault")),
    ("wiring", _("wiring")),
    ("human", _("human action")),
    ("unknown", _("unknown")),
]
# The ingest process (`minan ingest`): the MQTT broker (empty: the MQTT adapter is off), the MQTT 5
# shared-subscription group, and the GB/T 26875.3 TCP listener ("" = off). The share group is empty
# (a plain subscription) by default: set it only when running several ingest processes. Mosquitto does
# not restore a shared subscription after a broker restart, so what devices publish before ingest has
# subscribed again is lost (docs/operations.md); a plain subscription is kept by the broker.
MQTT_URL = os.environ.get("MQTT_URL", "")
MQTT_SHARE_GROUP = os.environ.get("MINAN_MQTT_SHARE_GROUP", "")
MQTT_CLIENT_ID = os.environ.get("MINAN_MQTT_CLIENT_ID", "")
# A second MQTT session (`<client id>-alarms`, same topic) that finds the alarms in a backlog at once
# (docs/firewatch.md, "The alarm session"); on with the fast lane (PostgreSQL). Off: one session, and
# the broker queues each message once.
MQTT_ALARM_SESSION = env_bool("MINAN_MQTT_ALARM_SESSION", True)
GB26875_LISTEN = os.environ.get("MINAN_GB26875_LISTEN", "127.0.0.1:9800")
# 查岗: a duty check not answered within this many minutes is a finding against the institution
# (the device prompts for 10 minutes).
GB26875_DUTY_CHECK_ANSWER_MINUTES = env_int("MINAN_GB26875_DUTY_CHECK_ANSWER_MINUTES", 10)
# Frames from a GB/T 26875.3 address with no registered device are not acted on: "deny" answers them
# with a deny (command 6), "confirm" confirms them without recording. Either way they are logged and
# listed as unregistered senders in the device registry, placed at MINAN_GB26875_REGION (a region code;
# empty = the smallest region holding every institution).
GB26875_UNKNOWN_SENDERS = os.environ.get("MINAN_GB26875_UNKNOWN_SENDERS", "deny").strip().lower()
if GB26875_UNKNOWN_SENDERS not in {"deny", "confirm"}:
    raise ImproperlyConfigured("MINAN_GB26875_UNKNOWN_SENDERS must be deny or confirm")
GB26875_REGION = os.environ.get("MINAN_GB26875_REGION", "")

# Photos attached to visits and findings (JPEG or PNG, checked by decoding them).
MAX_PHOTO_BYTES = env_int("MINAN_MAX_PHOTO_BYTES", 5 * 1024 * 1024)
# Images of more pixels than this are refused before decoding (a 17 KB PNG can claim 12,000×12,000).
MAX_IMAGE_PIXELS = env_int("MINAN_MAX_IMAGE_PIXELS", 40_000_000)

# Working-day calendar: from this month and day, administrators are warned if next year is missing.
CALENDAR_WARN_FROM = os.environ.get("MINAN_CALENDAR_WARN_FROM", "11-01")

# 一院一码: the address the public reaches (QR codes point at <base>/p/<token>/); empty = the request's host.
MINAN_PUBLIC_BASE_URL = os.environ.get("MINAN_PUBLIC_BASE_URL", "")
# Requests to public pages (/p/<token>/) per client address and minute; more answer 429. 0 = no limit.
PUBLIC_RATE_PER_MINUTE = env_int("MINAN_PUBLIC_RATE_PER_MINUTE", 60)

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "minan" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "minan" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if ENV == "test"
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# The browsable API (HTML forms at ?format=api) is for development with DEBUG on (`minan runserver`);
# elsewhere — `minan serve`, `make demo`, production — the API speaks JSON only.
MINAN_API_BROWSABLE = env_bool("MINAN_API_BROWSABLE", DEBUG)
# JSON request bodies: nesting depth and size (never more than DATA_UPLOAD_MAX_MEMORY_SIZE); beyond them 400
# `body_too_deep` / 413 `body_too_large` before the body is decoded (minan/core/limits.py).
MINAN_API_MAX_JSON_DEPTH = env_int("MINAN_API_MAX_JSON_DEPTH", 32)
MINAN_API_MAX_JSON_BYTES = env_int("MINAN_API_MAX_JSON_BYTES", 2 * 1024 * 1024)
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        *(["rest_framework.renderers.BrowsableAPIRenderer"] if MINAN_API_BROWSABLE else []),
    ],
    "DEFAULT_PARSER_CLASSES": [
        "minan.core.limits.JSONParser",
        "minan.core.limits.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "minan.accounts.authentication.ApiTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "minan.core.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"auth": "20/min"},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MinAn 民安 API",
    "DESCRIPTION": "Safety supervision of civil-affairs service institutions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets whose field names several models use (`kind`, `status`): each gets a stable name
    # (the institutions' keep the names they had before the notification channels came).
    "ENUM_NAME_OVERRIDES": {
        "KindEnum": "minan.institutions.models.Institution.Kind",
        "StatusEnum": "minan.institutions.models.Institution.Status",
        "ChannelKindEnum": "minan.notify.models.Channel.Kind",
        "DeliveryStatusEnum": "minan.notify.models.Delivery.Status",
        "HazardLevelEnum": "minan.hazards.models.Hazard.Level",
        "HazardStatusEnum": "minan.hazards.models.Hazard.Status",
        "HazardCategoryEnum": "minan.hazards.models.Category",
        "HazardSourceEnum": "minan.hazards.models.Source",
        "InspectionKindEnum": "minan.inspections.models.Kind",
    },
}

# Huey: SqliteHuey under var/ (no broker) unless REDIS_URL is set; tests run tasks immediately.
REDIS_URL = os.environ.get("REDIS_URL", "")
HUEY = {
    "name": "minan",
    "immediate": env_bool("HUEY_IMMEDIATE", ENV == "test"),
    "consumer": {"workers": env_int("HUEY_WORKERS", 2), "worker_type": "thread"},
}
if REDIS_URL:
    HUEY.update({"huey_class": "huey.RedisHuey", "url": REDIS_URL})
else:
    HUEY.update({"huey_class": "huey.SqliteHuey", "filename": str(VAR_DIR / "huey.sqlite3")})

# The cache holds public-code scan counters and rate-limit counts (minan/public/services.py): Redis when
# REDIS_URL is set (shared by every process; the worker folds the counters), else each process's memory.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }
}
if REDIS_URL:
    CACHES["default"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "minan",
    }

# Production hardening: `manage.py check --deploy` reports nothing.
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp; every response but PDFs, see minan.core.middleware): scripts,
# styles, images and requests only from this site, no inline script or style, no plugin, no framing
# (docs/security.md). Page behaviour lives in minan/static/minan/*.js; data for charts goes in
# json_script blocks (data, never executed).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
