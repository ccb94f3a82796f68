"""Machines' "last seen" is rewritten by every flush: no index on it, and room on each page for the
new row versions (fillfactor 80), so that PostgreSQL updates it in place of the page (HOT), with no
index to touch. Existing pages get that room as they are rewritten (VACUUM FULL, or over time)."""

from django.db import migrations

from core.migration_operations import RunOnPostgreSQL


class Migration(migrations.Migration):
    dependencies = [("environments", "0005_merge_claims_and_superseded")]

    operations = [
        migrations.RemoveIndex(model_name="machine", name="machine_org_last_seen"),
        RunOnPostgreSQL(
            "ALTER TABLE environments_machine SET (fillfactor = 80)",
            "ALTER TABLE environments_machine RESET (fillfactor)",
        ),
    ]
