#!/usr/bin/env python3
"""Make a Django database for the importdjango tests, with real Django.

    /usr/bin/python3 testdata/django/make_django_db.py DATABASE > users.json

DATABASE is an SQLite file path (created fresh) or a postgres:// URL of an
empty database (python3-psycopg2). The script configures a minimal settings
module in-process (django.contrib.auth and contenttypes, every password
hasher this Django offers), runs `migrate`, and creates users: one per
hasher, staff, a superuser, an inactive user, an unusable password,
conflicts Gatehouse refuses (Alice/alice; look-alike usernames; two accounts
sharing an address in different letter case), a user whose hash Gatehouse cannot verify (Django's
MD5PasswordHasher) and one with a bogus hash. It prints a JSON list of
{"username", "password", "hasher", "kind"} so the test knows each password.

Debian bookworm ships Django 3.2, which has no ScryptPasswordHasher; the
scrypt user's hash is then made by scrypt_encode, a copy of Django 4.x's
ScryptPasswordHasher.encode (hashlib.scrypt, n=2**14, r=8, p=1, dklen=64),
and stored with Django's own model save.
"""
import base64
import hashlib
import json
import os
import sys
from datetime import timedelta
from urllib.parse import unquote, urlparse

import django
from django.conf import settings


def databases(target):
    if target.startswith(("postgres://", "postgresql://")):
        u = urlparse(target)
        return {"default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(u.path.lstrip("/")),
            "USER": unquote(u.username or ""),
            "PASSWORD": unquote(u.password or ""),
            "HOST": u.hostname or "",
            "PORT": str(u.port or ""),
        }}
    if os.path.exists(target):
        os.remove(target)
    return {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": target}}


if len(sys.argv) != 2:
    sys.exit(__doc__)

HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
    "django.contrib.auth.hashers.MD5PasswordHasher",
]
settings.configure(
    DATABASES=databases(sys.argv[1]),
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    PASSWORD_HASHERS=HASHERS,
    USE_TZ=True,
    SECRET_KEY="make_django_db",
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
)
django.setup()

from django.contrib.auth import hashers  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

if hasattr(hashers, "ScryptPasswordHasher"):  # Django 4.0+
    HASHERS.insert(0, "django.contrib.auth.hashers.ScryptPasswordHasher")
    settings.PASSWORD_HASHERS = HASHERS

call_command("migrate", verbosity=0, interactive=False)


def scrypt_encode(password, salt, n=2**14, r=8, p=1):
    """Django 4.x ScryptPasswordHasher.encode, copied."""
    hash_ = hashlib.scrypt(
        password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=0, dklen=64
    )
    hash_ = base64.b64encode(hash_).decode("ascii").strip()
    return "%s$%d$%s$%d$%d$%s" % ("scrypt", n, salt, r, p, hash_)


out = []


def user(username, password, hasher="pbkdf2_sha256", kind="ok", email="", **fields):
    u = User(username=username, email=email, **fields)
    if password is None:
        u.set_unusable_password()
    elif hasher == "scrypt" and not hasattr(hashers, "ScryptPasswordHasher"):
        u.password = scrypt_encode(password, hashers.get_hasher("pbkdf2_sha256").salt())
    elif hasher == "bogus":
        u.password = "notahash$" + password
    else:
        u.password = hashers.make_password(password, hasher=hasher)
    u.save()
    out.append({"username": username, "password": password, "hasher": hasher, "kind": kind})
    return u


for alg in ["pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "scrypt"]:
    user("u_" + alg, "Dj4ngo-pass-" + alg, alg, email=alg + "@example.com")
user("staffer", "Dj4ngo-staff-pass", email="staff@example.com", is_staff=True,
     last_login=timezone.now() - timedelta(days=3))
root = User.objects.create_superuser("root", "root@example.com", "Dj4ngo-root-pass")
out.append({"username": "root", "password": "Dj4ngo-root-pass", "hasher": "pbkdf2_sha256", "kind": "superuser"})
user("sleeper", "Dj4ngo-sleeper-pass", kind="inactive", email="sleeper@example.com", is_active=False)
user("jürgen", "Dj4ngo-jürgen-päss", "argon2", email="juergen@example.com")
user("noemail", "Dj4ngo-noemail-pass", "bcrypt_sha256")
user("nopass", None, kind="unusable", email="nopass@example.com")
user("Alice", "Dj4ngo-Alice-pass", kind="username-conflict", email="alice1@example.com")
user("alice", "Dj4ngo-alice-pass", kind="username-conflict", email="alice2@example.com")
# Look-alikes: the second "maria" has a Cyrillic а (U+0430).
user("maria", "Dj4ngo-maria-pass", kind="lookalike-conflict", email="maria1@example.com")
user("m\u0430ria", "Dj4ngo-maria2-pass", kind="lookalike-conflict", email="maria2@example.com")
user("carol", "Dj4ngo-carol-pass", kind="email-conflict", email="Shared@example.com")
user("dave", "Dj4ngo-dave-pass", kind="email-conflict", email="shared@EXAMPLE.com")
user("oldmd5", "Dj4ngo-md5-pass", "md5", kind="unsupported-hash", email="md5@example.com")
user("bogus", "Dj4ngo-bogus-pass", "bogus", kind="unsupported-hash", email="bogus@example.com")

json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
sys.stdout.write("\n")
