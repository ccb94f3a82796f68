"""The API tokens page's form."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from integrations.models import Scope
from integrations.tokens import MAX_EXPIRY_DAYS


class APITokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label=_("Name"),
        help_text=_("What uses it (billing, CI); the audit log names it as the actor."),
    )
    scopes = forms.MultipleChoiceField(label=_("Scopes"), choices=Scope.choices, widget=forms.CheckboxSelectMultiple)
    expires_in_days = forms.IntegerField(
        min_value=1,
        max_value=MAX_EXPIRY_DAYS,
        required=False,
        initial=90,
        label=_("Expires in (days)"),
        help_text=_("Empty: never expires (it still dies when revoked or when its creator loses the role)."),
    )

    def __init__(self, *args, allowed: set[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = [(value, label) for value, label in Scope.choices if value in allowed]
