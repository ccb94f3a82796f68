"""Forms of the environment and machine pages."""

from __future__ import annotations

from django import forms

from environments.models import Environment


class EnvironmentForm(forms.Form):
    name = forms.CharField(max_length=100, label="Environment name")


class EnvironmentStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Environment.Status.choices)


class MachinePrimaryForm(forms.Form):
    is_primary = forms.BooleanField(required=False)


class MachineClaimForm(forms.Form):
    uid = forms.CharField(
        max_length=200,
        label="Machine UID",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
        help_text="As your agent shows it (licensing-agent uid); any case, spaces and dashes are fine.",
    )
    note = forms.CharField(
        max_length=500, required=False, label="Why it is yours", help_text="For the vendor, who settles the claim."
    )
