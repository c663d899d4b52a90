"""Settings for the test suite: the deployment settings plus what only tests may do."""

from jiedao.settings import *  # noqa: F403
from jiedao.settings import STORAGES

# Transactional tests empty the database between tests, audit table included.
JIEDAO_ALLOW_AUDIT_PURGE = True
# Hashing speed is not under test; the password policy (validators) still is.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
