"""Pages: the dashboard, organizations (list, create, edit, suspend/resume, environments tab)."""

from __future__ import annotations

from datetime import UTC, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from audit.selectors import recent_audit_events
from core.pages import bounded_total, form_add_service_errors, page_of, sorting_of
from environments.forms import EnvironmentForm
from environments.selectors import environments_of
from licenses.selectors import dashboard_numbers, temporary_keys_issued_to
from organizations.forms import OrganizationForm, OrganizationSearchForm, OrganizationStatusForm, RenewForm
from organizations.models import ENDING_SOON, Organization
from organizations.selectors import (
    ORGANIZATION_SORTS,
    organization_for_user,
    organizations_filtered,
    organizations_for_user,
    require_super_admin,
    who_can_help,
)
from organizations.services import (
    organization_create,
    organization_set_status,
    organization_update,
    subscription_renew,
)
from organizations.tabs import organization_page_context

DASHBOARD_CACHE_SECONDS = 60  # the key counts scan every key: at most once a minute per scope


@login_required
def dashboard(request):
    now = timezone.now()
    user = request.user
    if not (user.is_super_admin or user.is_org_manager):
        active, ended = temporary_keys_issued_to(user, now)
        return render(request, "partner_dashboard.html", {"active_keys": active, "ended_keys": ended, "now": now})
    organizations = organizations_for_user(user)
    scope = "all" if user.is_super_admin else f"organization-{user.organization_id}"
    numbers = cache.get_or_set(
        f"dashboard-numbers:{scope}",
        lambda: dashboard_numbers(organizations, now, everything=user.is_super_admin),
        DASHBOARD_CACHE_SECONDS,
    )
    events = recent_audit_events(None if user.is_super_admin else organizations)
    own_organization = None if user.is_super_admin else organizations.first()
    links = dashboard_links(own_organization, now)
    return render(
        request,
        "dashboard.html",
        {
            "numbers": numbers,
            "events": events,
            "now": now,
            "own_organization": own_organization,
            "links": links,
            "active_stats": active_key_stats(numbers, links),
            "open_claims": open_machine_claims() if user.is_super_admin else 0,
        },
    )


def active_key_stats(numbers, links: dict[str, str]) -> list[tuple[str, int, str]]:
    """The dashboard's "active keys" figures, one per kind: (heading, count, link)."""
    from licenses.models import Kind

    headings = {
        Kind.MACHINE: _("Active machine keys"),
        Kind.TEMPORARY: _("Active temporary keys"),
        Kind.SERVER: _("Active server access keys"),
        Kind.TRIAL: _("Active trial keys"),
        Kind.FREE: _("Active free-edition keys"),
    }
    # active_keys follows Kind.choices (licenses.selectors.dashboard_numbers), keyed by label.
    return [
        (headings.get(value, label), count, links.get(label, ""))
        for (value, label), count in zip(Kind.choices, numbers.active_keys.values(), strict=False)
    ]


def open_machine_claims() -> int:
    from environments.models import MachineClaim

    return MachineClaim.objects.filter(status=MachineClaim.Status.OPEN).count()


def dashboard_links(organization: Organization | None, now) -> dict[str, str]:
    """Where each of the dashboard's counts is listed: an organization's own filtered lists, or for
    a super-admin (whose counts span every organization) the filtered lists of the Django admin."""
    from urllib.parse import urlencode

    from licenses.models import Kind

    if organization is not None:
        keys = reverse("license_list", args=[organization.slug])
        links = {label: f"{keys}?kind={value}&status=active" for value, label in Kind.choices}
        links[Kind.SERVER.label] = reverse("server_key_list", args=[organization.slug]) + "?status=active"
        links["expiring"] = f"{keys}?kind=all&ending=on"
        links["organizations"] = organization.get_absolute_url()
        return links
    keys = reverse("admin:licenses_licensekey_changelist")
    moment = now.isoformat(timespec="seconds")
    links = {}
    for value, label in Kind.choices:
        query = {"kind__exact": value, "status__exact": "active"}
        if value != Kind.MACHINE:  # a machine key has no end of its own
            query["expires_at__gt"] = moment
        links[label] = f"{keys}?{urlencode(query)}"
    soon = (now + ENDING_SOON).isoformat(timespec="seconds")
    links["expiring"] = reverse("organization_list") + "?state=ending"
    links["expiring_keys"] = (
        f"{keys}?{urlencode({'status__exact': 'active', 'expires_at__gt': moment, 'expires_at__lte': soon})}"
    )
    links["organizations"] = reverse("organization_list")
    return links


@login_required
def organization_list(request):
    user = request.user
    if not user.is_super_admin:
        if user.is_org_manager:
            return redirect("organization_detail", user.organization.slug)
        require_super_admin(user)
    form = OrganizationSearchForm(request.GET or None)
    sorting = sorting_of(request, ORGANIZATION_SORTS, "name")
    queryset = Organization.objects.all()
    if form.is_valid():
        queryset = organizations_filtered(queryset, form.cleaned_data, timezone.now())
    queryset = queryset.order_by(*sorting.ordering)
    context = {
        "form": form,
        "sorting": sorting,
        "filtered": any(value for name, value in request.GET.items() if name not in ("sort", "page")),
        "total": bounded_total(queryset),
        "page": page_of(queryset, request),
    }
    return render(request, "organizations/organization_list.html", context)


@login_required
def organization_create_view(request):
    require_super_admin(request.user)
    now = timezone.now().replace(second=0, microsecond=0)
    form = OrganizationForm(
        request.POST or None,
        initial={"subscription_starts_at": now, "subscription_ends_at": now + timedelta(days=365), "edition": "paid"},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            organization = organization_create(
                actor=request.user,
                name=data["name"],
                slug=data["slug"],
                edition=data["edition"],
                subscription_starts_at=data["subscription_starts_at"],
                subscription_ends_at=data["subscription_ends_at"],
                transfer_limit=data["transfer_limit"],
                fingerprint_policy=data["fingerprint_policy"],
            )
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, _("Organization %(name)s created.") % {"name": organization.name})
            return redirect(organization)
    return render(request, "organizations/organization_create.html", {"form": form, "creating": True})


@login_required
def organization_edit(request, slug):
    organization = organization_for_user(request.user, slug)
    require_super_admin(request.user)
    form = OrganizationForm(request.POST or None, organization=organization)
    if request.method == "POST" and form.is_valid():
        try:
            organization = organization_update(organization=organization, actor=request.user, **form.changes())
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, _("Organization %(name)s saved.") % {"name": organization.name})
            return redirect(organization)
    return render(
        request,
        "organizations/organization_edit.html",
        organization_page_context(request, organization, "environments", form=form, creating=False),
    )


@login_required
def organization_status(request, slug):
    """Suspend or resume: GET asks for confirmation, POST does it."""
    organization = organization_for_user(request.user, slug)
    require_super_admin(request.user)
    suspending = not organization.is_suspended
    if request.method == "POST":
        form = OrganizationStatusForm(request.POST)
        if form.is_valid():
            organization = organization_set_status(
                organization=organization, actor=request.user, status=form.cleaned_data["status"]
            )
            done = _("Organization %(name)s suspended.") if organization.is_suspended else None
            done = done or _("Organization %(name)s resumed.")
            messages.success(request, done % {"name": organization.name})
            return redirect(organization)
    return render(
        request,
        "organizations/organization_status_confirm.html",
        organization_page_context(
            request,
            organization,
            "environments",
            new_status=Organization.Status.SUSPENDED if suspending else Organization.Status.ACTIVE,
            suspending=suspending,
        ),
    )


@login_required
def organization_renew(request, slug):
    """The subscription's periods, and a renewal from the previous paid end (super-admins)."""
    organization = organization_for_user(request.user, slug)
    require_super_admin(request.user)
    form = RenewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            period = subscription_renew(organization=organization, actor=request.user, **form.term())
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(
                request,
                _("%(name)s renewed by %(term)s: paid up to %(ends)s UTC (from the previous end, %(starts)s UTC).")
                % {
                    "name": organization.name,
                    "term": period.term,
                    "ends": date_format(period.ends_at.astimezone(UTC), "SHORT_DATETIME_FORMAT"),
                    "starts": date_format(period.starts_at.astimezone(UTC), "SHORT_DATETIME_FORMAT"),
                },
            )
            return redirect(organization)
    return render(
        request,
        "organizations/organization_renew.html",
        organization_page_context(
            request,
            organization,
            "environments",
            form=form,
            periods=organization.subscription_periods.all()[:50],
            now=timezone.now(),
        ),
        status=400 if form.errors else 200,
    )


@login_required
def organization_detail(request, slug):
    """The organization page; its first tab lists the environments."""
    organization = organization_for_user(request.user, slug)
    page = page_of(environments_of(organization), request)
    return render(
        request,
        "organizations/organization_environments.html",
        organization_page_context(
            request, organization, "environments", page=page, form=EnvironmentForm(), now=timezone.now()
        ),
    )


def permission_denied(request, exception=None):
    """The 403 page, in the portal's layout, naming who can grant what was refused."""
    user = getattr(request, "user", None)
    helpers = who_can_help(user) if user is not None and user.is_authenticated else []
    return TemplateResponse(request, "403.html", {"helpers": helpers}, status=403).render()
