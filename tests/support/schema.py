"""Setting a SQLite store back to an older schema, for the upgrade tests: what each later migration added goes
too, so that the migrations run again as they would on a store an older linedesk wrote."""

from __future__ import annotations

import sqlite3

REPORT_COLUMNS = ("closed_at", "first_response_at", "rating")
"""Migration 10's columns on `sessions` (the reports' covering index)."""


def set_back(db: sqlite3.Connection, version: int) -> None:
    """`PRAGMA user_version = version`, undoing migration 10 when `version` is below it."""
    if version < 10:
        db.execute("DROP INDEX IF EXISTS sessions_report")
        present = {row[1] for row in db.execute("PRAGMA table_info(sessions)")}
        for column in REPORT_COLUMNS:
            if column in present:
                db.execute(f"ALTER TABLE sessions DROP COLUMN {column}")
    db.execute(f"PRAGMA user_version = {int(version)}")
