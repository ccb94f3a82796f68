"""The signing in and out, password reset pages through Django's test client: the role that may does
it, the roles that may not change nothing."""

from __future__ import annotations

import re

from django.core import mail
from django.test import Client

from tests.conftest import PASSWORD


def test_sign_in_and_out(world):
    client = Client()
    response = client.post("/accounts/login/", {"username": "acme-admin", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "Acme Corp" in client.get("/").content.decode()
    assert client.get("/accounts/logout/").status_code == 405  # signing out is a POST
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_keeps_the_username_and_says_why(world):
    response = Client().post("/accounts/login/", {"username": "acme-admin", "password": "nope"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Please enter a correct username and password" in html
    assert 'value="acme-admin"' in html


def test_sign_in_is_refused_after_too_many_failures(world, settings):
    settings.SIGN_IN_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        client.post("/accounts/login/", {"username": "acme-admin", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "acme-admin", "password": PASSWORD})
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_password_reset_by_mail(world, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    user = world.users["org_admin"]
    user.email = "admin@acme.example"
    user.save()
    client = Client()
    response = client.post("/accounts/password_reset/", {"email": "admin@acme.example"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link)["Location"]
    new_password = "a brand new passphrase 42"
    response = client.post(form_url, {"new_password1": new_password, "new_password2": new_password})
    assert response.status_code == 302
    assert Client().login(username="acme-admin", password=new_password)
