"""The audit page's filters."""

from __future__ import annotations

from django import forms

from audit.models import Action
from core.pages import DateInput


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any action"),
            ("Families", [(family, f"Any {family[:-1].replace('_', ' ')} action") for family in Action.families()]),
            ("Actions", sorted(Action.choices, key=lambda choice: choice[1])),
        ],
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
