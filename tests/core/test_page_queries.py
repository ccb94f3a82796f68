"""Lists open in a bounded number of queries, whatever the number of rows (50 rows a page).

Each test counts the queries of a page with a few rows, adds many more rows, and asserts with
``django_assert_num_queries`` that the page makes exactly as many queries again.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from environments.models import Machine
from licenses.models import ActivationEvent, LicenseKey
from organizations.models import Organization

MAX_QUERIES = 12


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return len(captured)


def add_keys(world, kind: str, count: int, **fields) -> None:
    now = timezone.now()
    defaults = {
        "machine": {"environment": world.production},
        "server": {"machine_name": "srv", "expires_at": now + timedelta(days=30)},
        "temporary": {"expires_at": now + timedelta(hours=5), "issued_to": world.users["partner"]},
        "trial": {"expires_at": now + timedelta(days=30)},
    }[kind]
    LicenseKey.objects.bulk_create(
        [
            LicenseKey(
                kind=kind,
                organization=world.acme,
                issued_at=now - timedelta(minutes=index),
                digest=uuid.uuid4().hex,
                encrypted_key="x",
                requested_by=world.users["org_admin"],
                **{**defaults, **fields},
            )
            for index in range(count)
        ]
    )


def assert_bounded(client, url, django_assert_num_queries, grow) -> None:
    few = count_queries(client, url)
    assert few <= MAX_QUERIES
    grow()
    with django_assert_num_queries(few):
        response = client.get(url)
    assert 'rel="next"' in response.content.decode()  # 50 rows shown, the rest on the next pages


@pytest.mark.parametrize("kind", ["machine", "server", "trial", "temporary"])
def test_licenses_tab(world, django_assert_num_queries, kind):
    client = world.client("org_admin")
    assert_bounded(
        client,
        f"/organizations/acme/licenses/?kind={kind}",
        django_assert_num_queries,
        lambda: add_keys(world, kind, 60),
    )


def test_licenses_tab_with_bound_keys(world, django_assert_num_queries):
    def grow():
        now = timezone.now()
        machines = Machine.objects.bulk_create(
            [
                Machine(uid=f"{index:064x}", organization=world.acme, bound_at=now, first_seen_at=now, last_seen_at=now)
                for index in range(60)
            ]
        )
        for machine in machines:
            add_keys(world, "machine", 1, machine=machine, bound_at=now)

    assert_bounded(world.client("co_admin"), "/organizations/acme/licenses/", django_assert_num_queries, grow)


def test_server_keys_tab(world, django_assert_num_queries):
    assert_bounded(
        world.client("co_admin"),
        "/organizations/acme/server-keys/",
        django_assert_num_queries,
        lambda: add_keys(world, "server", 60),
    )


def test_temporary_keys_tab(world, django_assert_num_queries):
    def grow():
        add_keys(world, "temporary", 60)
        add_keys(world, "temporary", 60, expires_at=timezone.now() - timedelta(hours=1))

    assert_bounded(world.client("super_admin"), "/organizations/acme/temporary-keys/", django_assert_num_queries, grow)


def test_machines_tab(world, django_assert_num_queries):
    def grow():
        now = timezone.now()
        machines = Machine.objects.bulk_create(
            [
                Machine(
                    uid=f"{index:064x}",
                    organization=world.acme,
                    environment=world.production,
                    hostname=f"host-{index}",
                    bound_at=now,
                    first_seen_at=now,
                    last_seen_at=now - timedelta(seconds=index),
                )
                for index in range(60)
            ]
        )
        for machine in machines[:20]:
            add_keys(world, "machine", 2, machine=None)
            add_keys(world, "server", 1, machine=machine, bound_at=now)

    assert_bounded(world.client("org_admin"), "/organizations/acme/machines/", django_assert_num_queries, grow)


def test_audit_tab(world, django_assert_num_queries):
    def grow():
        AuditEvent.objects.bulk_create(
            [
                AuditEvent(actor_label="someone", organization=world.acme, action="license.reveal", object_repr="k")
                for _ in range(60)
            ]
        )

    assert_bounded(world.client("co_admin"), "/organizations/acme/audit/", django_assert_num_queries, grow)


def test_organizations_list(world, django_assert_num_queries):
    def grow():
        now = timezone.now()
        Organization.objects.bulk_create(
            [
                Organization(
                    name=f"Org {index:03}", slug=f"org-{index:03}", subscription_ends_at=now + timedelta(days=1)
                )
                for index in range(60)
            ]
        )

    assert_bounded(world.client("super_admin"), "/organizations/", django_assert_num_queries, grow)


def test_key_history(world, django_assert_num_queries):
    def grow():
        now = timezone.now()
        ActivationEvent.objects.bulk_create(
            [
                ActivationEvent(license=world.machine_key, machine_uid="ab" * 32, event="validate", created_at=now)
                for _ in range(60)
            ]
        )

    assert_bounded(world.client("org_admin"), f"/keys/{world.machine_key.public_id}/", django_assert_num_queries, grow)


def test_dashboard_query_count_does_not_grow(world, django_assert_num_queries):
    from django.core.cache import cache

    client = world.client("super_admin")
    few = count_queries(client, "/")
    add_keys(world, "machine", 60)
    add_keys(world, "temporary", 60)
    cache.clear()
    with django_assert_num_queries(few):
        client.get("/")
    assert few <= MAX_QUERIES


def test_dashboard_counts_keys_once_a_minute(world):
    client = world.client("org_admin")
    first = count_queries(client, "/")
    assert count_queries(client, "/") == first - 4  # key counts, expiring, activations, organizations: cached


def test_pages_go_on_to_the_next_rows(world):
    add_keys(world, "server", 60)
    client = world.client("org_admin")
    first = client.get("/organizations/acme/server-keys/").content.decode()
    second = client.get("/organizations/acme/server-keys/?page=2").content.decode()
    assert first.count('name="keys"') == 50 and second.count('name="keys"') == 11
    assert "Page 2 · rows 51–61" in second and 'rel="prev"' in second and 'rel="next"' not in second
    assert client.get("/organizations/acme/server-keys/?page=oops").status_code == 200
