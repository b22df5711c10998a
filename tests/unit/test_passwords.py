"""Password hashes: exporter/passwords.py."""

from __future__ import annotations

import hashlib

from exporter.passwords import hash_password, parse_hash, verify_password

FAST = 1000  # iterations: enough to test the scheme, quick enough for a unit test


def test_password_hashes_verify_and_are_salted() -> None:
    first = hash_password("hunter22", iterations=FAST)
    assert first.startswith("pbkdf2_sha256$1000$")
    assert verify_password("hunter22", first)
    assert not verify_password("hunter23", first)
    assert hash_password("hunter22", iterations=FAST) != first
    assert not verify_password("hunter22", "plain-text")


def test_a_hash_is_pbkdf2_sha256_of_its_salt_in_unpadded_base64() -> None:
    """Django's and passlib's layout: the digest is the standard library's PBKDF2."""
    encoded = hash_password("pw", iterations=FAST, salt=b"0123456789abcdef")
    scheme, iterations, salt, digest = encoded.split("$")
    assert (scheme, iterations, salt) == ("pbkdf2_sha256", "1000", "MDEyMzQ1Njc4OWFiY2RlZg")
    assert "=" not in digest
    expected = hashlib.pbkdf2_hmac("sha256", b"pw", b"0123456789abcdef", FAST)
    assert parse_hash(encoded) == (FAST, b"0123456789abcdef", expected)


def test_malformed_hashes_are_refused_not_raised() -> None:
    for encoded in ("", "md5$1000$c2FsdA$ZGln", "pbkdf2_sha256$0$c2FsdA$ZGln", "a$b$c"):
        assert not verify_password("pw", encoded)


def test_the_functions_are_still_where_0_1_0_documented_them() -> None:
    from exporter import webconfig

    assert webconfig.hash_password is hash_password
    assert webconfig.verify_password is verify_password
