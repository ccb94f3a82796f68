"""The Django admin's lists at /admin/ open in a bounded number of queries, whatever the table holds.

At a million keys the admin's key list is the largest page of the portal (bench/ times it); here each
list is counted with a few rows, then again with more rows than a page shows, and must make exactly
as many queries. Its paginator counts at most ``CappedCountPaginator.CAP`` rows.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from core.admin import CappedCountPaginator
from environments.models import Environment, Machine
from licenses.models import ActivationEvent, LicenseKey
from organizations.models import Organization, User
from tests.core.test_page_queries import MAX_QUERIES, add_keys, count_queries

MORE_THAN_A_PAGE = 120  # the admin shows 100 rows a page


def add_organizations(world):
    Organization.objects.bulk_create(
        [
            Organization(
                name=f"Customer {index}",
                slug=f"customer-{index}",
                subscription_ends_at=world.acme.subscription_ends_at,
            )
            for index in range(MORE_THAN_A_PAGE)
        ]
    )


def add_environments(world):
    Environment.objects.bulk_create(
        [Environment(organization=world.acme, name=f"Lab {index}") for index in range(MORE_THAN_A_PAGE)]
    )


def add_machines(world):
    now = timezone.now()
    Machine.objects.bulk_create(
        [
            Machine(
                uid=uuid.uuid4().hex * 2,
                organization=world.acme if index % 2 else world.globex,
                environment=world.production if index % 2 else world.globex_production,
                hostname=f"host-{index}",
                first_seen_at=now,
                last_seen_at=now,
                bound_at=now,
            )
            for index in range(MORE_THAN_A_PAGE)
        ]
    )


def add_history(world):
    key = LicenseKey.objects.filter(organization=world.acme).first()
    now = timezone.now()
    ActivationEvent.objects.bulk_create(
        [
            ActivationEvent(license=key, event="activate", machine_uid="u" * 64, created_at=now - timedelta(seconds=i))
            for i in range(MORE_THAN_A_PAGE)
        ]
    )


def add_audit(world):
    for index in range(MORE_THAN_A_PAGE):
        AuditEvent.objects.create(actor_label="root", action="test.event", object_type="test", object_repr=str(index))


def add_users(world):
    User.objects.bulk_create(
        [
            User(username=f"user-{index}", role=User.Role.ORG_ADMIN, organization=world.acme)
            for index in range(MORE_THAN_A_PAGE)
        ]
    )


LISTS = {
    "licenses/licensekey": lambda world: add_keys(world, "machine", MORE_THAN_A_PAGE),
    "licenses/activationevent": add_history,
    "environments/machine": add_machines,
    "environments/environment": add_environments,
    "organizations/organization": add_organizations,
    "organizations/user": add_users,
    "audit/auditevent": add_audit,
}


@pytest.mark.parametrize("path", LISTS)
def test_admin_list_queries_do_not_grow_with_the_table(world, django_assert_num_queries, path):
    client = world.client("super_admin")
    url = f"/admin/{path}/"
    few = count_queries(client, url)
    assert few <= MAX_QUERIES
    LISTS[path](world)
    with django_assert_num_queries(few):
        response = client.get(url)
    assert response.status_code == 200
    assert "?p=2" in response.content.decode()  # more rows than a page: a second page


def test_the_admin_key_list_counts_no_further_than_its_cap(world, monkeypatch):
    """Past the cap the list still opens, offers the pages up to the cap, and finds any key by search."""
    monkeypatch.setattr(CappedCountPaginator, "CAP", 150)
    add_keys(world, "machine", 200, description="bulk")
    client = world.client("super_admin")
    page = client.get("/admin/licenses/licensekey/").content.decode()
    assert "?p=2" in page and "?p=3" not in page  # 150 counted: two pages of 100
    oldest = LicenseKey.objects.order_by("issued_at").first()
    found = client.get(f"/admin/licenses/licensekey/?q={oldest.public_id}").content.decode()
    assert str(oldest.public_id) in found
