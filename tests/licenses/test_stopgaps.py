"""The stopgap rule, as the seed tells it: one stopgap (trial) key per lapse or renewal period of an
organization; a second is refused with the reason until a super-admin grants another."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent
from licenses.models import LicenseKey
from licenses.stopgaps import stopgap_allowance, stopgap_grant, stopgap_refusal
from organizations.models import Organization
from organizations.services import organization_create, subscription_renew
from tests.conftest import command
from tests.organizations.test_lapsed import lapse


@pytest.fixture
def acme(db):
    ends = timezone.now() - timedelta(days=1)
    return organization_create(
        actor=None,
        name="Acme Corp",
        slug="acme",
        subscription_starts_at=ends - timedelta(days=365),
        subscription_ends_at=ends,
    )


def trials(organization: Organization) -> int:
    return LicenseKey.objects.filter(organization=organization, kind="trial").count()


def test_a_lapsed_customer_gets_one_stopgap_and_a_second_request_is_refused_with_the_reason(acme):
    assert stopgap_refusal(acme) is None
    command("issue_key", "acme", "--kind", "trial")  # bridges the lapse

    reason = stopgap_refusal(acme)
    assert "already had its stopgap" in reason and "grant another" in reason
    with pytest.raises(CommandError, match="already had its stopgap"):
        call_command("issue_key", "acme", "--kind", "trial")
    assert trials(acme) == 1


def test_a_super_admin_grants_another_stopgap_for_the_period_and_it_is_audited(acme):
    command("issue_key", "acme", "--kind", "trial")
    stopgap_grant(organization=acme, actor=None, reason="Purchase order delayed")
    assert stopgap_allowance(acme).allowed == 2
    command("issue_key", "acme", "--kind", "trial")
    assert stopgap_refusal(acme) is not None  # one grant, one more key
    event = AuditEvent.objects.get(action="license.stopgap_grant")
    assert event.after == {"used": 1, "allowed": 2, "reason": "Purchase order delayed"}


def test_a_renewal_opens_a_new_period_with_its_own_stopgap(acme):
    command("issue_key", "acme", "--kind", "trial")
    subscription_renew(organization=acme, actor=None, months=12)  # paid again
    lapse(acme)  # ... and a year later, late again
    assert stopgap_refusal(acme) is None
    command("issue_key", "acme", "--kind", "trial")
    assert stopgap_refusal(acme) is not None


def test_one_organizations_stopgap_does_not_use_anothers(acme):
    organization_create(actor=None, name="Globex", slug="globex")
    command("issue_key", "acme", "--kind", "trial")
    assert stopgap_refusal(Organization.objects.get(slug="globex")) is None


def test_org_admin_is_refused_a_second_stopgap_on_the_page_until_a_super_admin_grants_one(world):
    # The world's Acme already had its trial key this period.
    admin = world.client("org_admin")
    page = admin.get("/organizations/acme/trial/").content.decode()
    assert "already had its stopgap" in page
    before = trials(world.acme)
    response = admin.post("/organizations/acme/trial/", follow=True)
    assert response.status_code == 200 and "already had its stopgap" in response.content.decode()
    assert trials(world.acme) == before

    assert world.client("co_admin").post("/organizations/acme/trial/grant/").status_code == 403
    assert admin.post("/organizations/acme/trial/grant/").status_code == 403
    world.client("super_admin").post("/organizations/acme/trial/grant/", {"reason": "late renewal"})
    assert AuditEvent.objects.filter(action="license.stopgap_grant", actor=world.users["super_admin"]).exists()
    response = admin.post("/organizations/acme/trial/")
    assert response.status_code == 302 and trials(world.acme) == before + 1
