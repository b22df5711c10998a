"""What can go wrong with the store, and which of it stops start-up.

StoreError
 ├── SchemaError    a file from a newer chatcanary, corrupt, not ours, or one that
 │                  cannot be opened or written: stop, say what to do (never retried)
 └── Unavailable    unreachable or failing now: retried in the background
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

# SQLite errors of a file that cannot be opened or written at all (a read-only directory
# or file, a directory in the file's place): they stop start-up, not retried.
UNWRITABLE = ("unable to open database file", "attempt to write a readonly database")


class StoreError(RuntimeError):
    """The store cannot do what was asked; the message names no password."""


class SchemaError(StoreError):
    """The database is not one this chatcanary can use: start-up stops."""


class Unavailable(StoreError):
    """The database cannot be reached or refused the operation now; try again later."""


def classify(error: BaseException, shown: str, engine: str) -> StoreError:
    """The store error an exception from the driver means."""
    if isinstance(error, StoreError):
        return error
    if (
        engine == "sqlite"
        and isinstance(error, sa_exc.DatabaseError)
        and not isinstance(error, sa_exc.OperationalError)
    ):
        reason = str(getattr(error, "orig", error)) or type(error).__name__
        return SchemaError(
            f"{shown} is not a usable SQLite database ({reason}). Restore it from a backup, "
            "or move it aside and chatcanary starts a new one."
        )
    reason = str(getattr(error, "orig", None) or error).splitlines()[0][:300] if str(error) else ""
    if engine == "sqlite" and any(m in reason for m in UNWRITABLE):  # no retry mends these
        return SchemaError(
            f"cannot open or write the store {shown}: {reason}. Give a writable data "
            "directory with --data-dir or CHATCANARY_DATA_DIR, or set store.url."
        )
    return Unavailable(f"store {shown} unavailable: {type(error).__name__}: {reason}".rstrip(": "))
