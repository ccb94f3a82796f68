"""Single sign-on with OpenID Connect (mozilla-django-oidc), one provider per organization plus the staff's.

The provider of a sign-in is the ``SingleSignOn`` row the user picked (its key in the session):
mozilla-django-oidc's views and backend read their endpoints and client from it instead of from
settings. A user is matched by the provider's *verified* e-mail among that connection's users (the
organization's, or the super-admins for the staff's); a new one is created only when the
organization's connection says so, with the connection's role. The role is always the portal's.
"""

from __future__ import annotations

import logging

import requests
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.models import SingleSignOn
from audit.services import audit_record
from licenses import encryption
from organizations.models import Organization, User
from organizations.services import user_create

logger = logging.getLogger(__name__)
SESSION_KEY = "sso_connection"


def sso_discover(issuer: str) -> dict:
    """The provider's endpoints from its discovery document (``issuer``/.well-known/openid-configuration)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ValidationError(
            {"issuer": _("The provider's discovery document could not be read (%(error)s).") % {"error": error}}
        )
    if document.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
        raise ValidationError({"issuer": _("The discovery document names another issuer.")})
    missing = [name for name in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not document.get(name)]
    if missing:
        raise ValidationError(
            {"issuer": _("The discovery document lacks %(fields)s.") % {"fields": ", ".join(missing)}}
        )
    return document


@transaction.atomic
def sso_connection_save(
    *,
    actor,
    organization: Organization | None,
    issuer: str,
    client_id: str,
    client_secret: str = "",
    is_enabled: bool = True,
    creates_users: bool = False,
    new_user_role: str = User.Role.CO_ADMIN,
) -> SingleSignOn:
    """Create or update the staff's (``organization=None``) or an organization's provider; reads its discovery."""
    if actor is not None and not actor.is_super_admin:
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied("Only super-admins configure single sign-on.")
    document = sso_discover(issuer)
    connection = SingleSignOn.objects.filter(organization=organization, for_staff=organization is None).first()
    before = connection.snapshot() if connection else None
    connection = connection or SingleSignOn(organization=organization, for_staff=organization is None)
    if not client_secret and not connection.client_secret:
        raise ValidationError({"client_secret": _("A client secret is required.")})
    connection.issuer = issuer.rstrip("/")
    connection.client_id = client_id
    if client_secret:
        connection.client_secret = encryption.encrypt(client_secret)
    connection.authorization_endpoint = document["authorization_endpoint"]
    connection.token_endpoint = document["token_endpoint"]
    connection.userinfo_endpoint = document.get("userinfo_endpoint", "")
    connection.jwks_uri = document["jwks_uri"]
    connection.is_enabled = is_enabled
    connection.creates_users = creates_users and organization is not None
    connection.new_user_role = new_user_role
    connection.full_clean(exclude=["organization"])
    connection.save()
    audit_record(
        actor=actor,
        action="sso.update" if before else "sso.create",
        organization=organization,
        obj=connection,
        before=before,
        after=connection.snapshot(),
    )
    return connection


def sso_connection_for(key: str) -> SingleSignOn:
    """The enabled connection of ``staff`` or an organization's slug; 404 otherwise."""
    connections = SingleSignOn.objects.select_related("organization").filter(is_enabled=True)
    connection = (
        connections.filter(for_staff=True).first()
        if key == "staff"
        else connections.filter(organization__slug=key, organization__status=Organization.Status.ACTIVE).first()
    )
    if connection is None:
        raise Http404("No single sign-on here.")
    return connection


def _connection_settings(connection: SingleSignOn) -> dict:
    return {
        "OIDC_OP_AUTHORIZATION_ENDPOINT": connection.authorization_endpoint,
        "OIDC_OP_TOKEN_ENDPOINT": connection.token_endpoint,
        "OIDC_OP_USER_ENDPOINT": connection.userinfo_endpoint,
        "OIDC_OP_JWKS_ENDPOINT": connection.jwks_uri,
        "OIDC_RP_CLIENT_ID": connection.client_id,
        "OIDC_RP_CLIENT_SECRET": encryption.decrypt(connection.client_secret),
        "OIDC_CREATE_USER": connection.creates_users,
    }


class PortalOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, configured per sign-in by the connection the user chose."""

    def __init__(self, *args, **kwargs):
        self.connection = None
        self.UserModel = User

    def get_settings(self, attr, *args):
        if self.connection is not None:
            values = _connection_settings(self.connection)
            if attr in values:
                return values[attr]
        return import_from_settings(attr, *args)

    def authenticate(self, request, **kwargs):
        if request is None or "nonce" not in kwargs or SESSION_KEY not in request.session:
            return None
        self.connection = (
            SingleSignOn.objects.select_related("organization")
            .filter(pk=request.session[SESSION_KEY], is_enabled=True)
            .first()
        )
        if self.connection is None:
            return None
        for name, value in _connection_settings(self.connection).items():
            setattr(self, name, value)
        self.OIDC_RP_SIGN_ALGO = self.get_settings("OIDC_RP_SIGN_ALGO", "RS256")
        self.OIDC_RP_IDP_SIGN_KEY = None
        user = super().authenticate(request, **kwargs)
        if user is None:
            audit_record(
                actor="anonymous",
                action="auth.sso_refused",
                organization=self.connection.organization,
                object_type="single sign-on",
                object_repr=str(self.connection),
            )
        elif user.is_active:
            audit_record(
                actor=user, action="auth.sign_in", organization=user.organization, obj=user, after={"via": "sso"}
            )
        return user

    def get_userinfo(self, access_token, id_token, payload):
        if not self.OIDC_OP_USER_ENDPOINT:  # a provider without a userinfo endpoint: the ID token's claims
            return payload
        return super().get_userinfo(access_token, id_token, payload)

    def verify_claims(self, claims):
        return bool(claims.get("email")) and claims.get("email_verified") is True

    def filter_users_by_claims(self, claims):
        users = User.objects.filter(email__iexact=claims["email"])
        if self.connection.for_staff:
            return users.filter(role=User.Role.SUPER_ADMIN)
        return users.filter(organization=self.connection.organization).exclude(role=User.Role.SUPER_ADMIN)

    def create_user(self, claims):
        if not self.connection.creates_users or self.connection.for_staff:
            return None
        email = claims["email"]
        if User.objects.filter(email__iexact=email).exists():
            return None  # the e-mail belongs to a user of another scope: never taken over
        username, number = email, 2
        while User.objects.filter(username__iexact=username).exists():
            username, number = f"{email}-{number}", number + 1
        return user_create(
            actor=f"single sign-on of {self.connection.key}",
            username=username[:150],
            role=self.connection.new_user_role,
            organization=self.connection.organization,
            email=email,
        )

    def update_user(self, user, claims):
        return user  # name, role and organization stay the portal's

    def get_user(self, user_id):
        user = User.objects.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None


class SsoStartView(OIDCAuthenticationRequestView):
    def __init__(self, *args, **kwargs):
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request, key):
        connection = sso_connection_for(key)
        request.session[SESSION_KEY] = connection.pk
        self.OIDC_OP_AUTH_ENDPOINT = connection.authorization_endpoint
        self.OIDC_RP_CLIENT_ID = connection.client_id
        return super().get(request)


class SsoCallbackView(OIDCAuthenticationCallbackView):
    def login_failure(self):
        messages.error(
            self.request,
            _(
                "Single sign-on did not sign you in: your provider did not confirm a verified e-mail of a user of "
                "this portal. Ask your administrator for an invitation."
            ),
        )
        return redirect("login")
