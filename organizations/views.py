"""Pages: the dashboard, organizations (list, create, edit, suspend/resume, environments tab)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from audit.selectors import recent_audit_events
from environments.forms import EnvironmentForm
from environments.selectors import environments_of
from licenses.selectors import dashboard_numbers, temporary_keys_issued_to
from licensing_portal.pages import form_add_service_errors, page_of
from organizations.forms import OrganizationForm, OrganizationSearchForm, OrganizationStatusForm
from organizations.models import Organization
from organizations.selectors import (
    organization_for_user,
    organization_search,
    organizations_for_user,
    require_super_admin,
)
from organizations.services import organization_create, organization_set_status, organization_update

DASHBOARD_CACHE_SECONDS = 60  # the key counts scan every key: at most once a minute per scope


def organization_tabs(user, organization: Organization) -> list[tuple[str, str, str]]:
    """The organization page's tabs that ``user`` may open: (name, label, url)."""
    from organizations.selectors import may_request_trial

    slug = organization.slug
    tabs = [
        ("environments", "Environments", reverse("organization_detail", args=[slug])),
        ("machines", "Machines", reverse("machine_list", args=[slug])),
        ("licenses", "Licenses", reverse("license_list", args=[slug])),
    ]
    if user.is_super_admin:
        tabs.append(("temporary", "Temporary keys", reverse("temporary_key_list", args=[slug])))
    tabs.append(("server", "Server access keys", reverse("server_key_list", args=[slug])))
    if may_request_trial(user, organization):
        tabs.append(("trial", "Trial key", reverse("trial_key", args=[slug])))
    tabs.append(("audit", "Audit", reverse("organization_audit", args=[slug])))
    return tabs


def organization_page_context(request, organization: Organization, tab: str, **context) -> dict:
    """What every tab of the organization page needs: the organization, its tabs, the open one."""
    return {"organization": organization, "tabs": organization_tabs(request.user, organization), "tab": tab, **context}


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
    return render(
        request,
        "dashboard.html",
        {
            "numbers": numbers,
            "events": events,
            "now": now,
            "own_organization": None if user.is_super_admin else organizations.first(),
        },
    )


@login_required
def organization_list(request):
    user = request.user
    if not user.is_super_admin:
        if user.is_org_manager:
            return redirect("organization_detail", user.organization.slug)
        require_super_admin(user)
    form = OrganizationSearchForm(request.GET or None)
    queryset = Organization.objects.order_by("name", "pk")
    if form.is_valid():
        queryset = organization_search(queryset, form.cleaned_data["q"])
    page = page_of(queryset, request)
    return render(request, "organizations/organization_list.html", {"form": form, "page": page})


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
            )
            if data["transfer_limit"] != organization.transfer_limit:
                organization = organization_update(
                    organization=organization, actor=request.user, transfer_limit=data["transfer_limit"]
                )
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, f"Organization {organization.name} created.")
            return redirect(organization)
    return render(request, "organizations/organization_create.html", {"form": form, "creating": True})


@login_required
def organization_edit(request, slug):
    organization = organization_for_user(request.user, slug)
    require_super_admin(request.user)
    form = OrganizationForm(request.POST or None, organization=organization)
    if request.method == "POST" and form.is_valid():
        try:
            organization = organization_update(organization=organization, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, f"Organization {organization.name} saved.")
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
            verb = "suspended" if organization.is_suspended else "resumed"
            messages.success(request, f"Organization {organization.name} {verb}.")
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
