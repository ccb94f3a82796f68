"""The webhook endpoint form (create and edit): the URL, the events it receives, a description.

It only gathers the fields: ``notifications.services.endpoint_validate`` checks them (the same rules
as the management API) and the view shows its errors next to each field.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from notifications import catalogue

EVENT_GROUPS = [
    (_("Organizations and subscriptions"), catalogue.ORGANIZATION_EVENTS),
    (_("Keys"), catalogue.LICENSE_EVENTS),
    (_("Machines and environments"), catalogue.OTHER_EVENTS),
]


class EndpointForm(forms.Form):
    url = forms.CharField(
        label=_("URL"),
        max_length=500,
        widget=forms.URLInput(attrs={"placeholder": "https://hooks.example.com/licensing", "autocomplete": "off"}),
        help_text=_("Where the portal POSTs each event, signed (Standard Webhooks). https:// only."),
    )
    all_events = forms.BooleanField(
        label=_("All events"), required=False, help_text=_("Every event type, including those added later.")
    )
    events = forms.MultipleChoiceField(
        label=_("Events"),
        required=False,
        choices=[(group, [(event, event) for event in events]) for group, events in EVENT_GROUPS],
        widget=forms.CheckboxSelectMultiple(attrs={"class": "event-choices"}),
    )
    description = forms.CharField(
        label=_("Description"), max_length=200, required=False, help_text=_("What receives them (CRM, billing).")
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["enabled"] = forms.BooleanField(
                label=_("Enabled"), required=False, help_text=_("Disabled: no event is delivered to it.")
            )

    @classmethod
    def initial_for(cls, endpoint) -> dict:
        everything = "*" in endpoint.events
        return {
            "url": endpoint.url,
            "all_events": everything,
            "events": [] if everything else list(endpoint.events),
            "description": endpoint.description,
            "enabled": endpoint.enabled,
        }

    def endpoint_fields(self) -> dict:
        """The cleaned fields as the services take them."""
        data = self.cleaned_data
        fields = {
            "url": data["url"],
            "events": ["*"] if data["all_events"] else list(data["events"]),
            "description": data["description"],
        }
        if "enabled" in self.fields:
            fields["enabled"] = data["enabled"]
        return fields
