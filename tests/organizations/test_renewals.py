"""Renewals: a term counted from the previous paid end, through the service, the command and the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditEvent
from organizations.models import Organization, SubscriptionPeriod, add_months
from organizations.services import organization_create, organization_update, subscription_renew
from tests.conftest import command


def lapsed_organization(days_lapsed: int) -> Organization:
    ends = timezone.now().replace(microsecond=0) - timedelta(days=days_lapsed)
    return organization_create(
        actor=None,
        name="Acme Corp",
        slug="acme",
        subscription_starts_at=ends - timedelta(days=365),
        subscription_ends_at=ends,
    )


def test_months_are_calendar_months():
    assert add_months(datetime(2026, 1, 31, 9, tzinfo=UTC), 1) == datetime(2026, 2, 28, 9, tzinfo=UTC)
    assert add_months(datetime(2026, 11, 15, tzinfo=UTC), 14) == datetime(2028, 1, 15, tzinfo=UTC)


@pytest.mark.django_db
def test_a_customer_who_bridged_a_month_with_a_stopgap_gets_eleven_months_from_a_twelve_month_renewal():
    # The subscription ended a month ago; the customer ran on a stopgap key since, then renews for 12 months.
    acme = lapsed_organization(days_lapsed=31)
    paid_end = acme.subscription_ends_at
    command("issue_key", "acme", "--kind", "trial")

    period = subscription_renew(organization=acme, actor=None, months=12)

    acme.refresh_from_db()
    assert period.starts_at == paid_end
    assert acme.subscription_ends_at == add_months(paid_end, 12)
    months_from_today = (acme.subscription_ends_at - timezone.now()).days / 30.44
    assert 10.5 < months_from_today < 11.5  # 11 months from the renewal, never 12
    assert acme.subscription_active(timezone.now())


@pytest.mark.django_db
def test_renewals_are_a_history_of_periods_each_starting_at_the_previous_end():
    acme = lapsed_organization(days_lapsed=0)
    first = subscription_renew(organization=acme, actor=None, months=12)
    second = subscription_renew(organization=acme, actor=None, days=30)
    periods = list(SubscriptionPeriod.objects.filter(organization=acme).order_by("starts_at"))
    assert [period.kind for period in periods] == ["initial", "renewal", "renewal"]
    assert periods[1].starts_at == periods[0].ends_at and periods[2].starts_at == periods[1].ends_at
    assert (first.term, second.term) == ("12 months", "30 days")
    acme.refresh_from_db()
    assert acme.subscription_ends_at == second.ends_at == first.ends_at + timedelta(days=30)


@pytest.mark.django_db
@pytest.mark.parametrize("term", [{}, {"months": 1, "days": 1}, {"months": 0}, {"days": -3}, {"months": 121}])
def test_a_renewal_needs_one_positive_term(term):
    acme = lapsed_organization(days_lapsed=0)
    with pytest.raises(Exception, match="Renew"):
        subscription_renew(organization=acme, actor=None, **term)
    assert SubscriptionPeriod.objects.filter(organization=acme).count() == 1


@pytest.mark.django_db
def test_renew_subscription_command_prints_the_new_end_and_what_it_was_renewed_from():
    acme = lapsed_organization(days_lapsed=10)
    renewed_from = acme.subscription_ends_at
    result = command("renew_subscription", "acme", "--months", "12")
    assert set(result) == {"id", "subscription_ends_at", "renewed_from"}
    assert result["id"] == str(acme.uuid)
    assert result["renewed_from"] == renewed_from.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result["subscription_ends_at"] == add_months(renewed_from, 12).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = AuditEvent.objects.get(action="organization.renew")
    assert event.actor_label == "system (command line)"
    assert event.after["renewed_from"] == renewed_from.isoformat()
    assert (
        command("renew_subscription", str(acme.uuid), "--days", "5")["renewed_from"] == result["subscription_ends_at"]
    )


@pytest.mark.django_db
@pytest.mark.parametrize("arguments", [["acme", "--days", "0"], ["nope", "--months", "1"]])
def test_renew_subscription_refuses_bad_input_and_changes_nothing(arguments, capsys):
    acme = lapsed_organization(days_lapsed=0)
    with pytest.raises(CommandError):
        call_command("renew_subscription", *arguments)
    acme.refresh_from_db()
    assert SubscriptionPeriod.objects.filter(organization=acme).count() == 1
    assert not AuditEvent.objects.filter(action="organization.renew").exists()


@pytest.mark.django_db
def test_an_edited_end_corrects_the_current_period():
    acme = lapsed_organization(days_lapsed=0)
    subscription_renew(organization=acme, actor=None, months=12)
    current = SubscriptionPeriod.objects.filter(organization=acme).first()
    new_end = current.ends_at + timedelta(days=3)
    organization_update(organization=acme, actor=None, subscription_ends_at=new_end)
    current.refresh_from_db()
    assert current.ends_at == new_end
    with pytest.raises(Exception, match="current period starts"):
        organization_update(organization=acme, actor=None, subscription_ends_at=current.starts_at - timedelta(days=1))


def test_super_admin_renews_on_the_page(world):
    ends = world.acme.subscription_ends_at
    client = world.client("super_admin")
    page = client.get("/organizations/acme/renew/")
    assert page.status_code == 200 and b"previous paid end" in page.content
    response = client.post("/organizations/acme/renew/", {"length": "30", "unit": "days"})
    assert response.status_code == 302
    world.acme.refresh_from_db()
    assert world.acme.subscription_ends_at == ends + timedelta(days=30)
    assert AuditEvent.objects.filter(action="organization.renew", actor=world.users["super_admin"]).exists()
    assert b"Subscription periods" in client.get("/organizations/acme/renew/").content


def test_bad_renewal_on_the_page_is_refused_with_the_form(world):
    response = world.client("super_admin").post("/organizations/acme/renew/", {"length": "0", "unit": "days"})
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action="organization.renew").exists()


@pytest.mark.parametrize(("role", "status"), [("org_admin", 403), ("co_admin", 403), ("outsider", 404)])
def test_only_super_admins_renew(world, role, status):
    ends = world.acme.subscription_ends_at
    assert world.client(role).post("/organizations/acme/renew/", {"length": "12", "unit": "months"}).status_code == (
        status
    )
    world.acme.refresh_from_db()
    assert world.acme.subscription_ends_at == ends
