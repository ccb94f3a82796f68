"""Forms of the environment and machine pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from environments.models import Environment


class EnvironmentForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Environment name"))


class EnvironmentStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Environment.Status.choices, label=_("Status"))


class MachinePrimaryForm(forms.Form):
    is_primary = forms.BooleanField(required=False, label=_("Primary"))


class MachineClaimForm(forms.Form):
    uid = forms.CharField(
        max_length=200,
        label=_("Machine UID"),
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
        help_text=_("As your agent shows it (licensing-agent uid); any case, spaces and dashes are fine."),
    )
    note = forms.CharField(
        max_length=500,
        required=False,
        label=_("Why it is yours"),
        help_text=_("For the vendor, who settles the claim."),
    )
