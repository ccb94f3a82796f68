"""On PostgreSQL, refuse UPDATE, DELETE and TRUNCATE on the audit table, even from raw SQL.

The one way to empty it is a transaction that first sets audit.maintenance (see below).
"""

from django.db import migrations

from core.migration_operations import RunOnPostgreSQL

FORWARD = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    -- A deliberate maintenance session (the test suite's flush, a retention job) may empty the
    -- table by first running: SELECT set_config('audit.maintenance', 'on', true);
    IF TG_OP = 'TRUNCATE' AND current_setting('audit.maintenance', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_event_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();

CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_event_no_update_delete ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_initial")]

    operations = [RunOnPostgreSQL(FORWARD, BACKWARD)]
