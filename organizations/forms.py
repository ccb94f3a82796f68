"""Forms of the organization pages."""

from __future__ import annotations

from django import forms

from licensing_portal.pages import UTCDateTimeField
from organizations.models import Edition, Organization


class OrganizationSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search", help_text="Name, slug or uuid")


class OrganizationForm(forms.Form):
    """Create or edit an organization and its subscription (times in UTC)."""

    name = forms.CharField(max_length=200)
    slug = forms.SlugField(max_length=80, required=False, help_text="Leave empty to derive it from the name.")
    edition = forms.ChoiceField(choices=Edition.choices)
    subscription_starts_at = UTCDateTimeField(label="Subscription starts (UTC)")
    subscription_ends_at = UTCDateTimeField(label="Subscription ends (UTC)")
    transfer_limit = forms.IntegerField(
        min_value=0,
        max_value=100,
        initial=3,
        help_text="Moves of one machine key to another machine allowed in 30 days.",
    )

    def __init__(self, *args, organization: Organization | None = None, **kwargs):
        if organization is not None:
            kwargs.setdefault("initial", {}).update(
                {
                    "name": organization.name,
                    "slug": organization.slug,
                    "edition": organization.edition,
                    "subscription_starts_at": organization.subscription_starts_at,
                    "subscription_ends_at": organization.subscription_ends_at,
                    "transfer_limit": organization.transfer_limit,
                }
            )
        super().__init__(*args, **kwargs)
        if organization is not None:
            self.fields["slug"].required = True
            self.fields["slug"].help_text = "Part of the organization's address in the portal."

    def clean(self):
        data = super().clean()
        starts, ends = data.get("subscription_starts_at"), data.get("subscription_ends_at")
        if starts and ends and ends < starts:
            self.add_error("subscription_ends_at", "The subscription cannot end before it starts.")
        return data


class OrganizationStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Organization.Status.choices)
