"""Invitations: a one-time link by e-mail that expires, resend, cancel; who may invite whom."""

from __future__ import annotations

from datetime import timedelta

from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import Invitation
from audit.models import AuditEvent
from organizations.models import User
from tests.accounts.conftest import invitation_link, last_mail, signed_in

NEW_PASSWORD = "a long and new passphrase 7"


def accept(link: str, username: str = "carol"):
    client = Client()
    response = client.post(link, {"username": username, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    return client, response


def test_org_admin_invites_a_co_admin_who_accepts_once(world):
    admin = world.client("org_admin")
    response = admin.post("/people/invite/", {"email": "carol@acme.example", "role": "co_admin"})
    assert response.status_code == 302
    message = last_mail()
    assert message.to == ["carol@acme.example"] and "Acme Corp" in message.body
    link = invitation_link(message)
    page = Client().get(link)
    assert page.status_code == 200 and "Co-admin" in page.content.decode()
    client, response = accept(link)
    assert response.status_code == 302 and response["Location"] == "/"
    carol = User.objects.get(username="carol")
    assert (carol.role, carol.organization, carol.email) == ("co_admin", world.acme, "carol@acme.example")
    assert client.get("/").status_code == 200  # signed in
    # The link works once.
    assert Client().get(link).status_code == 404
    _, again = accept(link, username="mallory")
    assert again.status_code == 404 and not User.objects.filter(username="mallory").exists()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"invitation.create", "invitation.accept", "user.create"} <= actions


def test_the_link_expires(world, settings):
    world.client("org_admin").post("/people/invite/", {"email": "late@acme.example", "role": "partner"})
    link = invitation_link(last_mail())
    Invitation.objects.filter(email="late@acme.example").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get(link).status_code == 404
    _, response = accept(link, username="late")
    assert response.status_code == 404 and not User.objects.filter(username="late").exists()


def test_resend_replaces_the_link_and_cancel_ends_it(world):
    admin = world.client("org_admin")
    admin.post("/people/invite/", {"email": "dan@acme.example", "role": "co_admin"})
    first = invitation_link(last_mail())
    invitation = Invitation.objects.get(email="dan@acme.example")
    assert admin.post(f"/people/invitations/{invitation.uuid}/resend/").status_code == 302
    second = invitation_link(last_mail())
    assert first != second
    assert Client().get(first).status_code == 404 and Client().get(second).status_code == 200
    assert admin.post(f"/people/invitations/{invitation.uuid}/cancel/").status_code == 302
    assert Client().get(second).status_code == 404
    assert AuditEvent.objects.filter(action="invitation.cancel", object_id=str(invitation.uuid)).exists()


def test_an_org_admin_can_invite_neither_a_super_admin_nor_into_another_organization(world):
    admin = world.client("org_admin")
    response = admin.post("/people/invite/", {"email": "evil@acme.example", "role": "super_admin"})
    assert response.status_code == 400 and not Invitation.objects.filter(email="evil@acme.example").exists()
    admin.post("/people/invite/", {"email": "x@globex.example", "role": "org_admin", "organization": world.globex.pk})
    assert Invitation.objects.get(email="x@globex.example").organization == world.acme  # always their own


def test_a_super_admin_invites_staff_and_any_organization(world):
    root = signed_in(world, "super_admin")
    root.post("/people/invite/", {"email": "staff@vendor.example", "role": "super_admin"})
    root.post("/people/invite/", {"email": "boss@globex.example", "role": "org_admin", "organization": world.globex.pk})
    assert Invitation.objects.get(email="staff@vendor.example").organization is None
    assert Invitation.objects.get(email="boss@globex.example").organization == world.globex
    response = root.post("/people/invite/", {"email": "nobody@x.example", "role": "org_admin"})
    assert response.status_code == 400 and "belong to an organization" in response.content.decode()


def test_duplicates_are_refused_and_nothing_is_sent(world):
    world.users["co_admin"].email = "taken@acme.example"
    world.users["co_admin"].save()
    admin = world.client("org_admin")
    sent = len(mail.outbox)
    assert admin.post("/people/invite/", {"email": "TAKEN@acme.example", "role": "partner"}).status_code == 400
    admin.post("/people/invite/", {"email": "twice@acme.example", "role": "partner"})
    response = admin.post("/people/invite/", {"email": "twice@acme.example", "role": "partner"})
    assert response.status_code == 400 and "pending invitation" in response.content.decode()
    assert len(mail.outbox) == sent + 1


def test_a_mail_failure_saves_nothing(world, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
    response = world.client("org_admin").post("/people/invite/", {"email": "lost@acme.example", "role": "partner"})
    assert response.status_code == 400 and "could not be mailed" in response.content.decode()
    assert not Invitation.objects.filter(email="lost@acme.example").exists()


def test_a_weak_password_is_refused_with_the_reason(world):
    world.client("org_admin").post("/people/invite/", {"email": "weak@acme.example", "role": "partner"})
    response = Client().post(
        invitation_link(last_mail()), {"username": "weak", "password1": "password", "password2": "password"}
    )
    assert response.status_code == 400 and "too common" in response.content.decode()
    assert not User.objects.filter(username="weak").exists()


def test_another_organizations_invitation_is_not_found(world):
    response = world.client("outsider").post(f"/people/invitations/{world.invitation.uuid}/cancel/")
    assert response.status_code == 404
    assert Invitation.objects.get(pk=world.invitation.pk).cancelled_at is None
