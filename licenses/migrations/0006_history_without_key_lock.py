"""A key's history rows keep their key without a foreign-key check on every insert.

PostgreSQL checks a foreign key by locking the referenced row (``FOR KEY SHARE``): on every
activation a logged write to a random page of the license-key table, the largest there is (at a
million keys, about 200 µs of PostgreSQL's CPU and 8 KB of WAL after each checkpoint per history
row: bench/). Instead the database refuses to delete a license key, even from raw SQL (the portal
never deletes one: a deleted server key is revoked and hidden), so every history row's key exists
for good, and the ORM's PROTECT refuses it too.
"""

import django.db.models.deletion
from django.db import migrations, models

from core.migration_operations import RunOnPostgreSQL

FORWARD = """
CREATE OR REPLACE FUNCTION license_key_never_deleted() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'license keys are never deleted (revoke the key instead)';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER license_key_no_delete
    BEFORE DELETE ON licenses_licensekey
    FOR EACH ROW EXECUTE FUNCTION license_key_never_deleted();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS license_key_no_delete ON licenses_licensekey;
DROP FUNCTION IF EXISTS license_key_never_deleted();
"""


class Migration(migrations.Migration):
    dependencies = [("licenses", "0005_activation_event_license_index")]

    operations = [
        RunOnPostgreSQL(FORWARD, BACKWARD),
        migrations.AlterField(
            model_name="activationevent",
            name="license",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="events",
                to="licenses.licensekey",
            ),
        ),
    ]
