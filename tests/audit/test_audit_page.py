"""The audit page: human action names from one list of actions, objects as links, wrong filters."""

from __future__ import annotations

import re

import pytest

from audit.forms import AuditFilterForm
from audit.models import Action, AuditEvent
from audit.services import audit_record


def test_the_filter_offers_every_action_there_is_access_denied_included():
    offered = {value for group in AuditFilterForm().fields["action"].choices[1:] for value, _ in group[1]}
    assert set(Action.values) <= offered
    assert "access.denied" in offered and "access." in offered


def test_the_writer_refuses_an_action_the_list_does_not_name(db):
    with pytest.raises(ValueError, match="unknown audit action"):
        audit_record(actor=None, action="license.teleport")


def test_actions_are_shown_by_name_and_objects_link_to_their_page(world):
    html = world.client("org_admin").get("/organizations/acme/audit/").content.decode()
    assert "Key issued</span>" in html and "<code>license.issue</code>" not in html
    assert f'href="/keys/{world.server_key.public_id}/"' in html


def test_access_denied_is_filterable(world):
    world.client("co_admin").get("/organizations/acme/trial/")
    response = world.client("org_admin").get("/organizations/acme/audit/?action=access.denied")
    assert response.status_code == 200
    assert response.content.decode().count("Access refused") >= 1
    assert "Key issued</span>" not in response.content.decode()


def test_a_to_before_from_is_an_error_and_shows_no_rows(world):
    assert AuditEvent.objects.filter(organization=world.acme).exists()
    response = world.client("org_admin").get("/organizations/acme/audit/?since=2026-05-02&until=2026-05-01")
    html = response.content.decode()
    assert "The end date is before the start date." in html
    assert 'data-testid="audit-table"' not in html and "No events match these filters." in html
    csv = world.client("org_admin").get("/organizations/acme/audit.csv?since=2026-05-02&until=2026-05-01")
    assert b"".join(csv.streaming_content).decode().strip().count("\n") == 0  # the header only


def test_the_dashboard_shows_action_names_and_a_see_all_link(world):
    html = world.client("org_admin").get("/").content.decode()
    assert "Key issued" in html and 'href="/organizations/acme/audit/"' in html


def test_every_action_the_code_writes_is_in_the_list():
    """Each action literal next to ``action`` in the application's code is one of ``Action``."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    written = set()
    for path in root.glob("*/**/*.py"):
        if path.parts[len(root.parts)] in {".venv", "tests", "bench", "agent"}:
            continue
        text = path.read_text()
        for line in text.splitlines():
            if "action" in line:
                written |= set(re.findall(r'"([a-z_]+\.[a-z_]+)"', line))
    written = {action for action in written if not action.endswith((".py", ".html", ".json"))}
    assert "signing_key.rotate" in written and "access.denied" in written
    assert written <= set(Action.values), sorted(written - set(Action.values))


def test_the_log_sorts_newest_or_oldest_first(world):
    client = world.client("org_admin")

    def times(sort):
        html = client.get("/organizations/acme/audit/", {"sort": sort} if sort else {}).content.decode()
        return re.findall(r'<time datetime="([^"]+)"', html.split('data-testid="audit-table"', 1)[1])

    newest_first = times(None)
    assert newest_first == sorted(newest_first, reverse=True) and len(newest_first) > 2
    assert times("time") == sorted(newest_first)
    assert 'aria-label="Time, sorted descending"' in client.get("/organizations/acme/audit/").content.decode()


def test_a_german_reader_sees_german_action_names_and_the_stored_code_stays(world):
    user = world.users["org_admin"]
    user.language = "de"
    user.save(update_fields=["language"])
    html = world.client("org_admin").get("/organizations/acme/audit/").content.decode()
    assert "Schlüssel ausgestellt</span>" in html and "Key issued</span>" not in html
    assert 'title="license.issue"' in html  # the code, as stored
    assert '<option value="license.revoke">Schlüssel widerrufen</option>' in html  # the filter too
    assert AuditEvent.objects.filter(action="license.issue").exists()
    english = world.client("co_admin").get("/organizations/acme/audit/").content.decode()
    assert "Key issued</span>" in english
