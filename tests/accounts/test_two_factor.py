"""Two-factor sign-in: required for super-admins (a setting: everyone), TOTP and one-time recovery codes,
enrolment with a QR code drawn by the portal, and a super-admin's reset of someone's second factor."""

from __future__ import annotations

import time

from django.test import Client

from audit.models import AuditEvent
from tests.accounts.conftest import code_of_pending, enrol, next_code, sign_in, signed_in


def test_a_super_admin_must_enrol_before_anything_else(world):
    client = Client()
    assert sign_in(client, "root").status_code == 302
    for url in ("/", "/organizations/", "/admin/", "/people/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/two-factor/enrol/")
    page = client.get("/accounts/two-factor/enrol/").content.decode()
    assert "<svg" in page and "otpauth" not in page.split("<svg")[0][-200:]  # the QR code is inline SVG
    codes = enrol(client, world.users["super_admin"])
    assert len(codes) == 10
    assert client.get("/organizations/").status_code == 200
    assert AuditEvent.objects.filter(action="user.second_factor_enrol").exists()


def test_a_wrong_code_does_not_enrol(world):
    client = Client()
    sign_in(client, "root")
    client.get("/accounts/two-factor/enrol/")
    response = client.post("/accounts/two-factor/enrol/", {"token": "000000"})
    assert "not right" in response.content.decode()
    assert client.get("/").status_code == 302


def test_the_next_sign_in_asks_for_a_code_and_a_recovery_code_works_once(world):
    root = world.users["super_admin"]
    first = Client()
    sign_in(first, "root")
    codes = enrol(first, root)
    second = Client()
    assert sign_in(second, "root").status_code == 302
    response = second.get("/organizations/")
    assert response["Location"].startswith("/accounts/two-factor/verify/")
    assert second.post("/accounts/two-factor/verify/", {"token": "123456"}).status_code == 400
    # django-otp throttles the device: right after a failure even the right code waits (1 s, then 2 s, ...).
    assert second.post("/accounts/two-factor/verify/", {"token": next_code(root)}).status_code == 400
    time.sleep(2.1)
    response = second.post("/accounts/two-factor/verify/", {"token": next_code(root), "next": "/organizations/"})
    assert response.status_code == 302 and response["Location"] == "/organizations/"
    assert second.get("/organizations/").status_code == 200
    # A recovery code signs in once.
    third = Client()
    sign_in(third, "root")
    assert third.post("/accounts/two-factor/verify/", {"token": codes[0]}).status_code == 302
    assert third.get("/").status_code == 200
    fourth = Client()
    sign_in(fourth, "root")
    assert fourth.post("/accounts/two-factor/verify/", {"token": codes[0]}).status_code == 400
    assert AuditEvent.objects.filter(action="auth.second_factor_failed").exists()


def test_everyone_needs_one_when_the_setting_says_so(world, settings):
    client = world.client("co_admin")
    assert client.get("/").status_code == 200
    settings.TWO_FACTOR_REQUIRED_FOR_EVERYONE = True
    assert client.get("/")["Location"].startswith("/accounts/two-factor/enrol/")


def test_others_may_turn_it_on_and_must_then_use_it(world):
    client = world.client("co_admin")
    user = world.users["co_admin"]
    client.get("/accounts/two-factor/enrol/")
    client.post("/accounts/two-factor/enrol/", {"token": code_of_pending(user)})
    later = Client()
    sign_in(later, "acme-coadmin")
    assert later.get("/")["Location"].startswith("/accounts/two-factor/verify/")


def test_a_super_admin_resets_a_second_factor_and_it_is_audited(world):
    user = world.users["org_admin"]
    own = world.client("org_admin")
    own.get("/accounts/two-factor/enrol/")
    own.post("/accounts/two-factor/enrol/", {"token": code_of_pending(user)})
    # An org admin cannot reset anyone's (not even a colleague's).
    assert own.post(f"/people/{world.users['co_admin'].pk}/second-factor-reset/").status_code == 403
    root = signed_in(world, "super_admin")
    assert root.post(f"/people/{user.pk}/second-factor-reset/").status_code == 302
    event = AuditEvent.objects.get(action="user.second_factor_reset", object_id=str(user.pk))
    assert event.actor == world.users["super_admin"] and event.before == {"enrolled": True}
    again = Client()
    sign_in(again, "acme-admin")
    assert again.get("/").status_code == 200  # no second factor any more (not required for org admins)
