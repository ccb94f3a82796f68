"""The audit pages through Django's test client: the role that may does it, the roles that may not
change nothing."""

from __future__ import annotations


def test_audit_tab_filters(world):
    client = world.client("org_admin")
    html = client.get("/organizations/acme/audit/?action=license.issue").content.decode()
    assert "license.issue" in html and "environment.create</code>" not in html
    assert "environment.create" in client.get("/organizations/acme/audit/?action=environment.").content.decode()
    html = client.get("/organizations/acme/audit/?actor=acme-admin").content.decode()
    assert "acme-admin" in html and "system (command line)" not in html
    response = client.get("/organizations/acme/audit/?since=2030-01-02&until=2030-01-01")
    assert "The end date is before the start date." in response.content.decode()


def test_audit_csv_streams_only_this_organizations_events(world):
    response = world.client("co_admin").get("/organizations/acme/audit.csv?action=license.")
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    lines = body.strip().splitlines()
    assert lines[0].startswith("time_utc,actor,action")
    assert all(",license." in line for line in lines[1:]) and len(lines) >= 5
    assert str(world.globex_key.public_id) not in body


def test_audit_csv_neutralises_formulas(world):
    from environments.services import environment_create

    environment_create(organization=world.acme, actor=world.users["org_admin"], name="=HYPERLINK(1)")
    body = b"".join(world.client("co_admin").get("/organizations/acme/audit.csv").streaming_content).decode()
    assert ",'=HYPERLINK(1)," in body
