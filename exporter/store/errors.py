"""What can go wrong with the store, and which of it stops start-up.

StoreError
 ├── SchemaError    a file from a newer chatcanary, corrupt, or not ours: stop, say
 │                  what to do (never retried; nothing is written to it)
 └── Unavailable    unreachable or failing now: retried in the background
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc


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
    return Unavailable(f"store {shown} unavailable: {type(error).__name__}: {reason}".rstrip(": "))
