"""Migration operations the apps share."""

from __future__ import annotations

from django.db import migrations


class RunOnPostgreSQL(migrations.RunSQL):
    """``RunSQL`` that runs on PostgreSQL only, each statement sent whole (PL/pgSQL function bodies
    are not split at their semicolons); elsewhere (the SQLite of a developer's machine) it does
    nothing. For the triggers with which the database itself refuses what the portal never does."""

    def __init__(self, sql: str, reverse_sql: str):
        super().__init__([sql], [reverse_sql])

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
