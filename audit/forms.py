"""The audit page's filters."""

from __future__ import annotations

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from audit.models import Action
from core.pages import DateInput


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(
        required=False,
        label=_("Action"),
        choices=lambda: [  # a callable: the actions sorted by their names in the reader's language
            ("", _("Any action")),
            (
                _("Families"),
                [
                    (family, format_lazy(_("Any {} action"), family[:-1].replace("_", " ")))
                    for family in Action.families()
                ],
            ),
            (_("Actions"), sorted(Action.choices, key=lambda choice: str(choice[1]))),
        ],
    )
    actor = forms.CharField(required=False, max_length=150, label=_("Who"))
    object = forms.CharField(required=False, max_length=200, label=_("Object"), help_text=_("Id or name"))
    since = forms.DateField(required=False, widget=DateInput(), label=_("From (UTC)"))
    until = forms.DateField(required=False, widget=DateInput(), label=_("To (UTC)"))

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            self.add_error("until", _("The end date is before the start date."))
        return data
