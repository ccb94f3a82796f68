"""The audit page's filters."""

from __future__ import annotations

from django import forms

from audit.selectors import ACTIONS
from core.pages import DateInput

_FAMILIES = sorted({action.split(".")[0] + "." for action in ACTIONS})


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(
        required=False,
        choices=[("", "Any action")]
        + [(family, f"Any {family[:-1]} action") for family in _FAMILIES]
        + [(action, action) for action in ACTIONS],
    )
    actor = forms.CharField(required=False, max_length=150, label="Who")
    object = forms.CharField(required=False, max_length=200, label="Object", help_text="Id or name")
    since = forms.DateField(required=False, widget=DateInput(), label="From (UTC)")
    until = forms.DateField(required=False, widget=DateInput(), label="To (UTC)")

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            self.add_error("until", "The end date is before the start date.")
        return data
