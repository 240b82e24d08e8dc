#!/usr/bin/env python3
"""Make password-hash test vectors with real Django.

Run with Debian's python3-django, python3-bcrypt and python3-argon2:

    /usr/bin/python3 models/testdata/django/make_vectors.py > models/testdata/django/vectors.json

Every hash comes from django.contrib.auth.hashers.make_password (or the
hasher's own encode() where a non-default cost is wanted), except:

- scrypt: Django 3.2 (Debian bookworm) has no ScryptPasswordHasher. When the
  installed Django has one it is used; otherwise scrypt_encode() below
  reproduces Django 4.x's ScryptPasswordHasher.encode exactly (hashlib.scrypt,
  n=2**14, r=8, p=1, dklen=64, "scrypt$n$salt$r$p$b64hash").
- argon2i: Django before 3.0 stored argon2i ("argon2$argon2i$v=19$…"); the
  vector reproduces that with argon2-cffi's low-level hash_secret, Type.I, and
  Django 2.x's parameters (t=2, m=512, p=2).

Output: a JSON list of {"algorithm", "password", "encoded", "made_by"}.
"""
import base64
import hashlib
import json
import sys

import django
from django.conf import settings

HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
]

settings.configure(INSTALLED_APPS=[], USE_TZ=True)
django.setup()

from django.contrib.auth import hashers  # noqa: E402

if hasattr(hashers, "ScryptPasswordHasher"):  # Django 4.0+
    HASHERS.append("django.contrib.auth.hashers.ScryptPasswordHasher")
settings.PASSWORD_HASHERS = HASHERS

PASSWORDS = [
    "correct-horse-battery",
    "pässwörd ☃ ünïcode",
    # Longer than bcrypt's 72-byte limit: bcrypt_sha256 uses all of it,
    # plain bcrypt only the first 72 bytes (Django's behaviour).
    "a-long-passphrase-" + "x" * 90,
]


def scrypt_encode(password, salt, n=2**14, r=8, p=1):
    """Django 4.x ScryptPasswordHasher.encode, copied."""
    hash_ = hashlib.scrypt(
        password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=0, dklen=64
    )
    hash_ = base64.b64encode(hash_).decode("ascii").strip()
    return "%s$%d$%s$%d$%d$%s" % ("scrypt", n, salt, r, p, hash_)


def argon2i_encode(password, salt):
    """What Django 2.x's Argon2PasswordHasher (type argon2i) stored."""
    import argon2

    data = argon2.low_level.hash_secret(
        password.encode(), salt.encode(), time_cost=2, memory_cost=512,
        parallelism=2, hash_len=16, type=argon2.low_level.Type.I,
    )
    return "argon2" + data.decode("ascii")


def available(name):
    try:
        return hashers.get_hasher(name)
    except ValueError:
        return None


vectors = []
version = "Django %s" % django.get_version()
for pw in PASSWORDS:
    for alg in ["pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "scrypt"]:
        hasher = available(alg)
        if hasher is not None:
            encoded = hashers.make_password(pw, hasher=alg)
            made_by = version + " make_password"
        elif alg == "scrypt":
            encoded = scrypt_encode(pw, hashers.get_hasher("pbkdf2_sha256").salt())
            made_by = version + ": Django 4.x ScryptPasswordHasher.encode reproduced with hashlib.scrypt"
        else:
            sys.exit("hasher %s missing: install python3-bcrypt and python3-argon2" % alg)
        assert hashers.check_password(pw, encoded) or alg == "scrypt", alg
        vectors.append({"algorithm": alg, "password": pw, "encoded": encoded, "made_by": made_by})
    # Older Django defaults: PBKDF2 with 20,000 (Django 1.8) iterations.
    pbkdf2 = hashers.get_hasher("pbkdf2_sha256")
    encoded = pbkdf2.encode(pw, pbkdf2.salt(), iterations=20000)
    assert hashers.check_password(pw, encoded)
    vectors.append({"algorithm": "pbkdf2_sha256", "password": pw, "encoded": encoded,
                    "made_by": version + " PBKDF2PasswordHasher.encode(iterations=20000)"})
    encoded = argon2i_encode(pw, pbkdf2.salt())
    assert hashers.check_password(pw, encoded)
    vectors.append({"algorithm": "argon2", "password": pw, "encoded": encoded,
                    "made_by": version + ": Django 2.x argon2i reproduced with argon2-cffi hash_secret"})

json.dump(vectors, sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")
