"""Single sign-on pages: choose one's organization's provider, and (super-admins) configure providers."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.forms import SingleSignOnChoiceForm, SingleSignOnForm
from accounts.models import SingleSignOn
from accounts.sso import sso_connection_save
from core.pages import form_add_service_errors
from organizations.models import Organization
from organizations.selectors import require_super_admin


def sso_choose(request):
    """Customers name their organization; its provider (if it has one) takes over."""
    form = SingleSignOnChoiceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        slug = form.cleaned_data["organization"]
        if SingleSignOn.objects.filter(organization__slug=slug, is_enabled=True).exists():
            # Not a redirect: the content security policy's form-action 'self' would stop a form's
            # redirect chain at the provider. A new page goes on by itself (and offers a link).
            return render(request, "accounts/sso_continue.html", {"start_url": reverse("sso_start", args=[slug])})
        form.add_error("organization", _("This organization has no single sign-on. Sign in with your password."))
    return render(request, "accounts/sso_choose.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def sso_settings(request):
    require_super_admin(request.user)
    connections = {connection.key: connection for connection in SingleSignOn.objects.select_related("organization")}
    return render(
        request,
        "accounts/sso_list.html",
        {
            "staff": connections.get("staff"),
            "connections": [c for key, c in sorted(connections.items()) if key != "staff"],
            "organizations": Organization.objects.order_by("name"),
        },
    )


@login_required
def sso_edit(request, key):
    require_super_admin(request.user)
    organization = None if key == "staff" else Organization.objects.filter(slug=key).first()
    if key != "staff" and organization is None:
        from django.http import Http404

        raise Http404("No such organization.")
    connection = SingleSignOn.objects.filter(organization=organization, for_staff=organization is None).first()
    initial = (
        {
            "issuer": connection.issuer,
            "client_id": connection.client_id,
            "is_enabled": connection.is_enabled,
            "creates_users": connection.creates_users,
            "new_user_role": connection.new_user_role,
        }
        if connection
        else {"is_enabled": True}
    )
    form = SingleSignOnForm(request.POST or None, initial=initial, for_staff=organization is None)
    if request.method == "POST" and form.is_valid():
        try:
            sso_connection_save(actor=request.user, organization=organization, **form.cleaned_data)
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, _("Single sign-on saved."))
            return redirect("sso_settings")
    return render(
        request,
        "accounts/sso_edit.html",
        {
            "form": form,
            "organization": organization,
            "connection": connection,
            "callback_url": request.build_absolute_uri("/accounts/sso/callback/"),
        },
        status=400 if form.errors else 200,
    )
