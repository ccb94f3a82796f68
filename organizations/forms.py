"""Forms of the organization pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from core.pages import UTCDateTimeField
from organizations.models import DEFAULT_TRANSFER_LIMIT, Edition, Organization
from organizations.services import MAX_RENEWAL_DAYS, MAX_TRANSFER_LIMIT


class OrganizationSearchForm(forms.Form):
    q = forms.CharField(
        required=False, max_length=200, label=_("Search"), help_text=_("Name, slug or uuid (its first characters)")
    )
    status = forms.ChoiceField(
        required=False, label=_("Status"), choices=[("", _("Any status")), *Organization.Status.choices]
    )
    edition = forms.ChoiceField(required=False, label=_("Edition"), choices=[("", _("Any edition")), *Edition.choices])
    state = forms.ChoiceField(
        required=False,
        label=_("Subscription"),
        choices=[("", _("Any subscription")), ("lapsed", _("Lapsed")), ("ending", _("Ending in 30 days"))],
    )


class OrganizationForm(forms.Form):
    """Create or edit an organization and its subscription (times in UTC)."""

    name = forms.CharField(max_length=200, label=_("Name"))
    slug = forms.SlugField(
        max_length=80, required=False, label=_("Slug"), help_text=_("Leave empty to derive it from the name.")
    )
    edition = forms.ChoiceField(choices=Edition.choices, label=_("Edition"))
    subscription_starts_at = UTCDateTimeField(label=_("Subscription starts (UTC)"))
    subscription_ends_at = UTCDateTimeField(label=_("Subscription ends (UTC)"))
    transfer_limit = forms.IntegerField(
        min_value=0,
        max_value=MAX_TRANSFER_LIMIT,
        initial=DEFAULT_TRANSFER_LIMIT,
        label=_("Transfer limit"),
        help_text=_("Moves of one machine key to another machine allowed in 30 days."),
    )
    fingerprint_policy = forms.ChoiceField(
        choices=Organization.FingerprintPolicy.choices,
        required=False,
        label=_("Fingerprint policy"),
        help_text=_(
            "Strict: any hardware change is another machine. Tolerant: an agent whose MAC address, "
            "CPU id or computer name changed (one of them) keeps its key."
        ),
    )

    same_name_anyway = forms.BooleanField(required=False, label=_("Yes, this is another organization of the same name"))

    def __init__(self, *args, organization: Organization | None = None, **kwargs):
        self.organization = organization
        if organization is not None:
            kwargs.setdefault("initial", {}).update(
                {
                    "name": organization.name,
                    "slug": organization.slug,
                    "edition": organization.edition,
                    "subscription_starts_at": organization.subscription_starts_at,
                    "subscription_ends_at": organization.subscription_ends_at,
                    "transfer_limit": organization.transfer_limit,
                    "fingerprint_policy": organization.fingerprint_policy,
                }
            )
        super().__init__(*args, **kwargs)
        if organization is not None:
            self.fields["slug"].required = True
            self.fields["slug"].help_text = _("Part of the organization's address in the portal.")
        if not self._same_name_taken():
            del self.fields["same_name_anyway"]  # asked only when the name is already in use

    def _same_name_taken(self) -> bool:
        name = (self.data.get("name") or "").strip() if self.is_bound else ""
        if not name:
            return False
        others = Organization.objects.filter(name__iexact=name)
        if self.organization is not None:
            others = others.exclude(pk=self.organization.pk)
        return others.exists()

    def changes(self) -> dict:
        """The organization's fields as typed (not the confirmation)."""
        return {name: value for name, value in self.cleaned_data.items() if name != "same_name_anyway"}

    def clean(self):
        data = super().clean()
        if "same_name_anyway" in self.fields and not data.get("same_name_anyway"):
            self.add_error(
                "same_name_anyway",
                _("An organization named “%(name)s” exists already. Confirm that this is another one.")
                % {"name": data.get("name", "")},
            )
        starts, ends = data.get("subscription_starts_at"), data.get("subscription_ends_at")
        if starts and ends and ends < starts:
            self.add_error("subscription_ends_at", _("The subscription cannot end before it starts."))
        if not data.get("fingerprint_policy"):  # left out: the organization keeps its policy
            data["fingerprint_policy"] = self.initial.get("fingerprint_policy") or Organization.FingerprintPolicy.STRICT
        return data


class OrganizationStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Organization.Status.choices, label=_("Status"))


class RenewForm(forms.Form):
    """A renewal's term, counted from the previous paid end."""

    length = forms.IntegerField(min_value=1, max_value=MAX_RENEWAL_DAYS, initial=12, label=_("Renew by"))
    unit = forms.ChoiceField(choices=[("months", _("months")), ("days", _("days"))], initial="months", label=_("Unit"))

    def term(self) -> dict[str, int]:
        return {self.cleaned_data["unit"]: self.cleaned_data["length"]}
