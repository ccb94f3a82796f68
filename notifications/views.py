"""Pages: webhook endpoints. Super-admins manage the vendor-wide ones (every organization's events)
on /webhooks/ and any organization's on its "Webhooks" tab; an organization's admins and co-admins
manage their organization's there. An endpoint's page shows its delivery log with "Send again"."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.pages import form_add_service_errors, page_of, secret_response
from notifications.forms import EndpointForm
from notifications.selectors import (
    NOT_A_MANAGER,
    deliveries_of,
    delivery_for_user,
    endpoint_for_user,
    endpoints_of,
    may_manage_endpoints,
)
from notifications.services import delivery_resend, endpoint_create, endpoint_delete, endpoint_update
from organizations.selectors import organization_for_user, require_super_admin
from organizations.tabs import organization_page_context

VENDOR_LAYOUT = "notifications/vendor_base.html"
ORGANIZATION_LAYOUT = "organizations/organization_base.html"


def _organization_or_vendor(request, slug: str | None):
    """The organization of ``slug`` (404 if the user may not manage it), or None for the vendor's
    pages (super-admins only: 403, as the other vendor pages)."""
    if slug is None:
        require_super_admin(request.user)
        return None
    organization = organization_for_user(request.user, slug)
    if not may_manage_endpoints(request.user, organization):
        raise PermissionDenied(NOT_A_MANAGER)
    return organization


def _context(request, organization, **context) -> dict:
    context["layout"] = VENDOR_LAYOUT if organization is None else ORGANIZATION_LAYOUT
    if organization is None:
        return context
    return organization_page_context(request, organization, "webhooks", **context)


def _list_url(organization) -> str:
    if organization is None:
        return reverse("vendor_webhooks")
    return reverse("organization_webhooks", args=[organization.slug])


def _detail(request, endpoint, **extra):
    return _context(
        request,
        endpoint.organization,
        endpoint=endpoint,
        page=page_of(deliveries_of(endpoint), request),
        list_url=_list_url(endpoint.organization),
        **extra,
    )


@login_required
def webhook_list(request, slug: str | None = None):
    organization = _organization_or_vendor(request, slug)
    page = page_of(endpoints_of(organization), request)
    create_url = (
        reverse("vendor_webhook_create")
        if organization is None
        else reverse("organization_webhook_create", args=[organization.slug])
    )
    context = _context(request, organization, page=page, create_url=create_url)
    return render(request, "notifications/endpoint_list.html", context)


@login_required
def webhook_create(request, slug: str | None = None):
    organization = _organization_or_vendor(request, slug)
    template = "notifications/endpoint_form.html"
    context = {"list_url": _list_url(organization)}
    if request.method != "POST":
        return render(request, template, _context(request, organization, form=EndpointForm(), **context))
    form = EndpointForm(request.POST)
    if form.is_valid():
        try:
            endpoint, secret = endpoint_create(actor=request.user, organization=organization, **form.endpoint_fields())
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            # The secret is shown in this answer only (never cached): no redirect.
            return secret_response(
                request, "notifications/endpoint_detail.html", _detail(request, endpoint, secret=secret)
            )
    return render(request, template, _context(request, organization, form=form, **context), status=400)


@login_required
def webhook_detail(request, endpoint_id):
    endpoint = endpoint_for_user(request.user, endpoint_id)
    return render(request, "notifications/endpoint_detail.html", _detail(request, endpoint))


@login_required
def webhook_edit(request, endpoint_id):
    endpoint = endpoint_for_user(request.user, endpoint_id)
    template = "notifications/endpoint_form.html"
    context = {"endpoint": endpoint, "list_url": reverse("webhook_detail", args=[endpoint.uuid])}
    if request.method != "POST":
        form = EndpointForm(initial=EndpointForm.initial_for(endpoint), editing=True)
        return render(request, template, _context(request, endpoint.organization, form=form, **context))
    form = EndpointForm(request.POST, editing=True)
    if form.is_valid():
        try:
            endpoint_update(actor=request.user, endpoint=endpoint, **form.endpoint_fields())
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, _("The webhook endpoint is saved."))
            return redirect(reverse("webhook_detail", args=[endpoint.uuid]))
    return render(request, template, _context(request, endpoint.organization, form=form, **context), status=400)


@login_required
def webhook_delete(request, endpoint_id):
    """Delete an endpoint: GET asks on a page (without script), POST does it."""
    endpoint = endpoint_for_user(request.user, endpoint_id)
    if request.method == "POST":
        organization = endpoint.organization
        endpoint_delete(actor=request.user, endpoint=endpoint)
        messages.success(request, _("The webhook endpoint %(url)s is deleted.") % {"url": endpoint.url})
        return redirect(_list_url(organization))
    context = _context(request, endpoint.organization, endpoint=endpoint)
    return render(request, "notifications/endpoint_delete_confirm.html", context)


@login_required
@require_POST
def webhook_delivery_resend(request, delivery_id: int):
    found = delivery_for_user(request.user, delivery_id)
    try:
        delivery_resend(actor=request.user, delivery=found)
        messages.success(
            request, _("The event %(webhook_id)s will be sent again now.") % {"webhook_id": found.event.webhook_id}
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect(reverse("webhook_detail", args=[found.endpoint.uuid]))
