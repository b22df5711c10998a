"""Password hashes of the web config file: salted PBKDF2-SHA256, as
`pbkdf2_sha256$ITERATIONS$SALT$HASH` (salt and hash in unpadded base64).

Apart from the web config's models (exporter/webconfig.py) so that the web server checks
passwords without importing them: `run` without a web config file builds none. A hash
for the file: docs/web-and-apis.md (`hash_password` of a password read by getpass).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "pbkdf2_sha256"
ITERATIONS = 600_000
# checked against when a user name is unknown, so that an unknown user costs a known one's time
DUMMY_HASH = (
    "pbkdf2_sha256$600000$Y2hhdGNhbmFyeS1kdW1teQ$r8U2es2Ndkj0mRdL2zVITXCCx9hOFagJneAhgjyERz8"
)


def hash_password(password: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """`pbkdf2_sha256$ITERATIONS$SALT$HASH` (salt and hash in unpadded base64)."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{SCHEME}${iterations}${_b64(salt)}${_b64(digest)}"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def parse_hash(encoded: str) -> tuple[int, bytes, bytes]:
    """(iterations, salt, hash) of an encoded hash; ValueError if it is not one."""
    scheme, iterations, salt, digest = encoded.split("$")
    if scheme != SCHEME or not iterations.isdigit() or int(iterations) < 1:
        raise ValueError
    return int(iterations), _unb64(salt), _unb64(digest)


def verify_password(password: str, encoded: str) -> bool:
    try:
        iterations, salt, expected = parse_hash(encoded)
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return hmac.compare_digest(digest, expected)
