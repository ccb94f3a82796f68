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
