"""The audit page's filters."""

from __future__ import annotations

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from audit.models import Action
from core.pages import DateInput


def action_choices() -> list:
    """Any action, each family, then every action sorted by its name in the reader's language."""
    families = [
        (family, format_lazy(_("Any {} action"), family[:-1].replace("_", " "))) for family in Action.families()
    ]
    actions = sorted(((value, str(label)) for value, label in Action.choices), key=lambda choice: choice[1])
    return [("", _("Any action")), (_("Families"), families), (_("Actions"), actions)]


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(required=False, label=_("Action"))
    actor = forms.CharField(required=False, max_length=150, label=_("Who"))
    object = forms.CharField(required=False, max_length=200, label=_("Object"), help_text=_("Id or name"))
    since = forms.DateField(required=False, widget=DateInput(), label=_("From (UTC)"))
    until = forms.DateField(required=False, widget=DateInput(), label=_("To (UTC)"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = action_choices()

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            self.add_error("until", _("The end date is before the start date."))
        return data
