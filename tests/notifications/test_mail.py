"""E-mail notices through a real SMTP server (aiosmtpd): each admin and co-admin of the organization
gets one message with text and HTML bodies and absolute links, nobody else; never twice; a send
that fails is retried by the sweep; the trial-key and disabled-endpoint notices."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from licenses.models import Kind
from licenses.services import license_issue
from notifications import expiry, jobs, mail
from notifications.delivery import endpoint_disable
from notifications.models import Notice, WebhookEndpoint
from notifications.services import new_secret
from organizations.services import subscription_renew
from tests.support.smtp import bodies

pytestmark = pytest.mark.usefixtures("in_process")


def send_all() -> None:
    for notice_id in Notice.objects.filter(sent_at__isnull=True).values_list("pk", flat=True):
        mail.notice_send(notice_id)


@pytest.mark.django_db(transaction=True)
def test_seven_days_before_the_end_each_admin_gets_one_mail_with_text_and_html(people, smtp_server):
    ends = f"{people.acme.subscription_ends_at:%Y-%m-%d}"
    expiry.scan(timezone.now())  # the notice's job runs in-process once the scan's transaction commits
    jobs.wait_idle()
    messages = smtp_server.messages
    assert sorted(str(message["To"]) for message in messages) == sorted(people.acme_managers)
    for message in messages:
        assert message["Subject"] == f"Your subscription ends on {ends}"
        text, html = bodies(message)
        assert (
            "Acme Corp" in text and "7 days" in text and "https://portal.example.com/organizations/acme/trial/" in text
        )
        assert (
            '<a href="https://portal.example.com/organizations/acme/trial/">' in html
            and "<strong>Acme Corp</strong>" in html
        )
    notice = Notice.objects.get()
    assert notice.sent_at is not None and sorted(notice.recipients) == sorted(people.acme_managers)

    expiry.scan(timezone.now())
    mail.sweep(timezone.now() + timedelta(minutes=10))
    jobs.wait_idle()
    assert len(smtp_server.messages) == 2  # no second mail


def test_nobody_else_and_no_other_organization_is_told(people, smtp_server):
    expiry.scan(timezone.now())
    send_all()
    received = {str(message["To"]) for message in smtp_server.messages}
    assert received == people.acme_managers
    for other in (people.former_admin, people.partner, people.vendor, people.outsider):
        assert smtp_server.to(other.email) == []


def test_a_renewal_before_the_mail_leaves_drops_the_warning_and_brings_new_ones_later(people, smtp_server):
    expiry.scan(timezone.now())
    period = subscription_renew(organization=people.acme, actor=None, months=12)
    send_all()
    assert smtp_server.messages == []  # the 7-day warning is out of date: not mailed
    assert Notice.objects.get().recipients == []
    expiry.scan(period.ends_at - timedelta(hours=12))
    send_all()
    to_acme = [message for message in smtp_server.messages if str(message["To"]) in people.acme_managers]
    assert {str(message["Subject"]) for message in to_acme} == {f"Your subscription ends on {period.ends_at:%Y-%m-%d}"}
    assert len(to_acme) == 2


def test_a_server_key_expiring_and_expired_is_mailed(people, smtp_server):
    key, _text = license_issue(
        organization=people.acme,
        kind=Kind.SERVER,
        actor=None,
        machine_name="acme-srv01",
        expires_on=timezone.now().date() + timedelta(days=60),
    )
    day = f"{key.expires_at:%Y-%m-%d}"
    expiry.scan(key.expires_at - timedelta(days=6))
    expiry.scan(key.expires_at + timedelta(hours=3))
    send_all()
    subjects = sorted({str(message["Subject"]) for message in smtp_server.to(people.admin.email)})
    assert subjects == [
        f"Your server access key for acme-srv01 expired on {day}",
        f"Your server access key for acme-srv01 expires on {day}",
    ]
    text, html = bodies(smtp_server.to(people.co_admin.email)[0])
    assert "https://portal.example.com/organizations/acme/server-keys/" in text + html


@pytest.mark.django_db(transaction=True)
def test_smtp_down_leaves_the_notice_unsent_and_the_sweep_sends_it_later(people, smtp_server):
    smtp_server.stop()
    expiry.scan(timezone.now())
    jobs.wait_idle()
    notice = Notice.objects.get()
    assert notice.sent_at is None and notice.recipients == []
    assert mail.sweep(timezone.now()) == 0  # too recent: its job may still be running
    smtp_server.start()
    assert mail.sweep(timezone.now() + timedelta(minutes=3)) == 1
    jobs.wait_idle()
    notice.refresh_from_db()
    assert notice.sent_at is not None
    assert {str(message["To"]) for message in smtp_server.messages} == people.acme_managers
    assert mail.sweep(timezone.now() + timedelta(minutes=6)) == 0


def test_a_trial_key_issued_tells_the_admins_once(people, smtp_server, settings):
    settings.AUDIT_EVENT_HOOKS = [*settings.AUDIT_EVENT_HOOKS, "notifications.mail.audit_event_mailed"]
    key, _text = license_issue(organization=people.acme, kind=Kind.TRIAL, actor=people.admin)
    notice = Notice.objects.get(kind="trial.requested")
    assert notice.subject_id == str(key.public_id) and notice.organization == people.acme
    assert Notice.objects.filter(kind="trial.requested").count() == 1
    send_all()
    send_all()
    messages = smtp_server.messages
    assert {str(message["To"]) for message in messages} == people.acme_managers and len(messages) == 2
    assert messages[0]["Subject"] == "A trial key was issued for Acme Corp"
    text, html = bodies(messages[0])
    assert f"https://portal.example.com/keys/{key.public_id}/" in text and "<strong>Acme Corp</strong>" in html


def test_a_disabled_endpoint_tells_its_creator_once(people, smtp_server, settings):
    settings.AUDIT_EVENT_HOOKS = [*settings.AUDIT_EVENT_HOOKS, "notifications.mail.audit_event_mailed"]
    endpoint = WebhookEndpoint.objects.create(
        organization=people.acme,
        url="https://hooks.example.com/in",
        events=["*"],
        secret=new_secret(),
        created_by=people.co_admin,
    )
    endpoint_disable(endpoint, "The endpoint answered 410 Gone.")
    endpoint.refresh_from_db()
    assert mail.endpoint_disabled_notify(endpoint) is None  # the delivery code's call finds it written
    send_all()
    (message,) = smtp_server.messages
    assert str(message["To"]) == people.co_admin.email
    assert message["Subject"] == "Your webhook endpoint was disabled"
    text, _html = bodies(message)
    assert "https://hooks.example.com/in" in text and "410 Gone" in text
