"""Forms of the people pages, the invitation link, two-factor sign-in and single sign-on set-up."""

from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

from accounts.services import roles_grantable_by
from organizations.models import Organization, User


class UserSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label=_("Search"), help_text=_("Username or e-mail"))
    organization = forms.ModelChoiceField(queryset=Organization.objects.none(), required=False, empty_label=_("All"))

    def __init__(self, *args, actor: User, **kwargs):
        super().__init__(*args, **kwargs)
        if actor.is_super_admin:
            self.fields["organization"].queryset = Organization.objects.order_by("name")
        else:
            del self.fields["organization"]


class _RoleFields(forms.Form):
    role = forms.ChoiceField(choices=(), label=_("Role"))
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.none(),
        required=False,
        label=_("Organization"),
        help_text=_("Required for organization admins and co-admins; optional for partners; none for super-admins."),
    )

    def __init__(self, *args, actor: User, **kwargs):
        super().__init__(*args, **kwargs)
        grantable = roles_grantable_by(actor)
        self.fields["role"].choices = [(value, label) for value, label in User.Role.choices if value in grantable]
        if actor.is_super_admin:
            self.fields["organization"].queryset = Organization.objects.order_by("name")
        else:
            del self.fields["organization"]


class InvitationForm(_RoleFields):
    email = forms.EmailField(max_length=254, label=_("Email"))
    field_order = ["email", "role", "organization"]


class RoleForm(_RoleFields):
    pass


class AcceptInvitationForm(forms.Form):
    username = forms.CharField(max_length=150, label=_("Username"), help_text=_("What you will sign in with."))
    password1 = forms.CharField(label=_("Password"), strip=False, widget=forms.PasswordInput(render_value=False))
    password2 = forms.CharField(label=_("Password again"), strip=False, widget=forms.PasswordInput(render_value=False))

    def __init__(self, *args, email: str, **kwargs):
        self.email = email
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            try:
                password_validation.validate_password(first, User(username=data.get("username", ""), email=self.email))
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("Code"),
        max_length=20,
        help_text=_("The 6-digit code of your authenticator app, or one of your recovery codes."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}),
    )


class EnrolForm(forms.Form):
    token = forms.CharField(
        label=_("Code from the app"),
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class SingleSignOnForm(forms.Form):
    issuer = forms.URLField(
        assume_scheme="https",
        label=_("Issuer"),
        help_text=_("The provider's issuer URL; its discovery document is read when you save."),
    )
    client_id = forms.CharField(max_length=255, label=_("Client ID"))
    client_secret = forms.CharField(
        required=False,
        label=_("Client secret"),
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Stored encrypted. Leave empty to keep the current one."),
    )
    is_enabled = forms.BooleanField(required=False, initial=True, label=_("Enabled"))
    creates_users = forms.BooleanField(
        required=False,
        label=_("Create users on first sign-in"),
        help_text=_("A verified e-mail unknown to the portal becomes a user of this organization (never for staff)."),
    )
    new_user_role = forms.ChoiceField(
        choices=[(User.Role.CO_ADMIN, User.Role.CO_ADMIN.label), (User.Role.PARTNER, User.Role.PARTNER.label)],
        label=_("Role of created users"),
    )

    def __init__(self, *args, for_staff: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if for_staff:
            del self.fields["creates_users"]
            del self.fields["new_user_role"]


class SingleSignOnChoiceForm(forms.Form):
    organization = forms.SlugField(
        max_length=80,
        label=_("Organization"),
        help_text=_("Your organization's short name in the portal (ask your admin)."),
    )
