"""Pages: API tokens. Super-admins make vendor tokens (every organization) on /api-tokens/ and any
organization's on its "API tokens" tab; an organization's admins make their organization's there."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.pages import form_add_service_errors, page_of, secret_response
from integrations.forms import APITokenForm
from integrations.models import APIToken
from integrations.tokens import (
    api_token_create,
    api_token_revoke,
    may_create_tokens,
    scopes_allowed,
    tokens_visible_to,
)
from organizations.selectors import organization_for_user, require_super_admin
from organizations.tabs import organization_page_context


def _context(request, organization, form, **extra) -> dict:
    context = {
        "form": form,
        "page": page_of(tokens_visible_to(request.user, organization), request),
        "now": timezone.now(),
        "api_docs_url": "/api/manage/v1/docs",
        **extra,
    }
    if organization is None:
        return context
    return organization_page_context(request, organization, "api_tokens", **context)


def _tokens_page(request, organization):
    if not may_create_tokens(request.user, organization):
        raise PermissionDenied(_("Only super-admins and the organization's admins manage its API tokens."))
    template = "integrations/vendor_api_tokens.html" if organization is None else "integrations/api_tokens.html"
    allowed = scopes_allowed(request.user, organization)
    if request.method != "POST":
        return render(request, template, _context(request, organization, APITokenForm(allowed=allowed)))
    form = APITokenForm(request.POST, allowed=allowed)
    if form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        try:
            token, text = api_token_create(
                actor=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                organization=organization,
                expires_at=timezone.now() + timedelta(days=days) if days else None,
            )
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            # The text is shown in this answer only (never stored, never cached): no redirect.
            context = _context(request, organization, APITokenForm(allowed=allowed), created=token, created_text=text)
            return secret_response(request, template, context)
    return render(request, template, _context(request, organization, form), status=400)


@login_required
def vendor_api_tokens(request):
    require_super_admin(request.user)
    return _tokens_page(request, None)


@login_required
def organization_api_tokens(request, slug):
    return _tokens_page(request, organization_for_user(request.user, slug))


@login_required
@require_POST
def api_token_revoke_view(request, token_id: int):
    token = get_object_or_404(APIToken.objects.select_related("organization"), pk=token_id)
    organization = token.organization
    if organization is None:
        require_super_admin(request.user)
    else:
        organization_for_user(request.user, organization.slug)  # 404 for another organization's
    if not may_create_tokens(request.user, organization):
        raise PermissionDenied(_("Only the organization's admins revoke its API tokens."))
    try:
        api_token_revoke(token=token, actor=request.user)
        messages.success(request, _("The token %(name)s is revoked.") % {"name": token.name})
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    if organization is None:
        return redirect(reverse("vendor_api_tokens"))
    return redirect(reverse("organization_api_tokens", args=[organization.slug]))
