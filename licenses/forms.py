"""Forms of the license pages: issue, revoke, edit, delete, manual activation."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from core.pages import DateInput
from environments.fingerprint import FingerprintError, machine_uid_normalize
from environments.models import Environment
from environments.services import MACHINE_UID_FORMAT_MESSAGE
from licenses.models import LicenseKey
from licenses.services import TEMPORARY_TTL_CHOICES
from organizations.models import Organization, User


class KeyFilterForm(forms.Form):
    """The filters above a list of keys (GET)."""

    q = forms.CharField(
        required=False,
        max_length=100,
        label=_("Search"),
        help_text=_("Key id (the first characters shown), machine name or description"),
    )
    status = forms.ChoiceField(
        required=False,
        label=_("Status"),
        choices=[
            ("", _("Any status")),
            ("active", _("Active")),
            ("inactive", _("Inactive")),
            ("expired", _("Expired")),
            ("revoked", _("Revoked")),
        ],
    )
    ending = forms.BooleanField(required=False, label=_("Ending within 30 days"))


class MachineKeyForm(forms.Form):
    environment = forms.ModelChoiceField(
        queryset=Environment.objects.none(), to_field_name="uuid", empty_label=None, label=_("Environment")
    )
    description = forms.CharField(
        max_length=500, required=False, label=_("Description"), help_text=_("e.g. which agent install it is for")
    )

    def __init__(self, *args, organization: Organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["environment"].queryset = Environment.objects.attached().filter(organization=organization)


class RevokeForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Reason"),
        help_text=_("Recorded in the key's history."),
    )


class TemporaryKeyForm(forms.Form):
    ttl = forms.TypedChoiceField(
        label=_("Time to live"),
        choices=[(int(ttl.total_seconds()), label) for ttl, label in TEMPORARY_TTL_CHOICES],
        coerce=lambda seconds: timedelta(seconds=int(seconds)),
        initial=int(TEMPORARY_TTL_CHOICES[1][0].total_seconds()),
    )
    issued_to = forms.ModelChoiceField(
        queryset=User.objects.none(),
        required=False,
        empty_label=_("Nobody in particular"),
        label=_("Issued to"),
        help_text=_("A partner or developer who will see this key when they sign in."),
    )
    description = forms.CharField(max_length=500, required=False, label=_("Description"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["issued_to"].queryset = User.objects.filter(role=User.Role.PARTNER, is_active=True).order_by(
            "username"
        )


class ServerKeyForm(forms.Form):
    machine_name = forms.CharField(
        max_length=255, label=_("Machine name"), help_text=_("The server's host name, as the agent reports it.")
    )
    expires_on = forms.DateField(widget=DateInput(), label=_("Expires (UTC)"), help_text=_("Valid through this day."))
    description = forms.CharField(max_length=500, required=False, label=_("Description"))


class ServerKeyEditForm(forms.Form):
    description = forms.CharField(max_length=500, required=False, label=_("Description"))
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[(LicenseKey.Status.ACTIVE, _("Active")), (LicenseKey.Status.INACTIVE, _("Inactive"))],
        widget=forms.RadioSelect,
    )
    expires_on = forms.DateField(widget=DateInput(), label=_("Expires (UTC)"), help_text=_("Valid through this day."))

    def __init__(self, *args, license_key: LicenseKey | None = None, **kwargs):
        if license_key is not None:
            kwargs.setdefault("initial", {}).update(
                {
                    "description": license_key.description,
                    "status": license_key.status,
                    "expires_on": (license_key.expires_at - timedelta(days=1)).date(),
                }
            )
        super().__init__(*args, **kwargs)


class ServerKeySelectionForm(forms.Form):
    """The check-boxes of the server keys list."""

    keys = forms.ModelMultipleChoiceField(
        queryset=LicenseKey.objects.none(),
        to_field_name="public_id",
        error_messages={"required": _("Select at least one key.")},
    )

    def __init__(self, *args, organization: Organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["keys"].queryset = (
            LicenseKey.objects.visible().filter(organization=organization, kind="server").order_by("-issued_at", "-id")
        )


class ManualActivationForm(forms.Form):
    license_key = forms.CharField(
        max_length=1024,
        label=_("License key"),
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
        help_text=_("Paste the whole key, e.g. LP1M-…"),
    )
    machine_uid = forms.CharField(
        max_length=200,
        label=_("Machine UID"),
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
        help_text=_("As the agent shows it; any case, spaces and dashes are fine."),
    )
    machine_name = forms.CharField(
        max_length=200, required=False, label=_("Machine name"), help_text=_("Optional label for the machine.")
    )

    def clean_license_key(self):
        return self.cleaned_data["license_key"].strip()

    def clean_machine_uid(self):
        try:
            return machine_uid_normalize(self.cleaned_data["machine_uid"])
        except FingerprintError:
            raise forms.ValidationError(MACHINE_UID_FORMAT_MESSAGE) from None
