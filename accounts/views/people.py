"""The people pages: users (list, detail, role, deactivate/reactivate, second-factor reset) and invitations."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import services
from accounts.forms import AcceptInvitationForm, InvitationForm, RoleForm, UserSearchForm
from accounts.selectors import invitation_for, pending_invitations_for, user_for, user_search, users_for
from accounts.two_factor import has_second_factor, second_factor_reset
from core.pages import form_add_service_errors, page_of
from licenses.selectors import temporary_keys_issued_to
from organizations.models import Organization, User
from organizations.selectors import require_super_admin


def _accept_url_for(request):
    return lambda token: request.build_absolute_uri(reverse("invitation_accept", args=[token]))


@login_required
def user_list(request):
    users = users_for(request.user)
    form = UserSearchForm(request.GET or None, actor=request.user)
    if form.is_valid():
        users = user_search(users, form.cleaned_data["q"])
        if form.cleaned_data.get("organization"):
            users = users.filter(organization=form.cleaned_data["organization"])
    return render(
        request,
        "accounts/user_list.html",
        {
            "form": form,
            "page": page_of(users, request),
            "invitations": pending_invitations_for(request.user)[:50],
            "invite_form": InvitationForm(actor=request.user),
            "now": timezone.now(),
        },
    )


@login_required
def invitation_create_view(request):
    users_for(request.user)  # the same permission as the list
    form = InvitationForm(request.POST or None, actor=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            invitation = services.invitation_create(
                actor=request.user,
                email=data["email"],
                role=data["role"],
                organization=data.get("organization"),
                accept_url_for=_accept_url_for(request),
            )
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, _("Invitation sent to %(email)s.") % {"email": invitation.email})
            return redirect("user_list")
    return render(request, "accounts/invitation_form.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_POST
def invitation_resend_view(request, invitation_uuid):
    invitation = invitation_for(request.user, invitation_uuid)
    try:
        services.invitation_resend(actor=request.user, invitation=invitation, accept_url_for=_accept_url_for(request))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _("Invitation sent again to %(email)s; the earlier link no longer works.") % {"email": invitation.email},
        )
    return redirect("user_list")


@login_required
@require_POST
def invitation_cancel_view(request, invitation_uuid):
    invitation = invitation_for(request.user, invitation_uuid)
    try:
        services.invitation_cancel(actor=request.user, invitation=invitation)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Invitation of %(email)s cancelled.") % {"email": invitation.email})
    return redirect("user_list")


def invitation_accept_view(request, token):
    """The invitation link: choose a username and password; the link then stops working."""
    invitation = services.invitation_by_token(token)
    if invitation is None:
        return render(request, "accounts/invitation_invalid.html", status=404)
    form = AcceptInvitationForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(
                token=token, username=form.cleaned_data["username"], password=form.cleaned_data["password1"]
            )
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            login(request, user, backend="accounts.signin.LockoutModelBackend")
            messages.success(request, _("Welcome, %(name)s. Your account is ready.") % {"name": user.username})
            return redirect("dashboard")
    return render(
        request,
        "accounts/invitation_accept.html",
        {"form": form, "invitation": invitation},
        status=400 if form.errors else 200,
    )


def _detail_context(request, user: User, role_form=None) -> dict:
    now = timezone.now()
    active_keys, ended_keys = (
        temporary_keys_issued_to(user, now) if user.role == User.Role.PARTNER else ([], [])
    )  # fmt: skip
    return {
        "person": user,
        "role_form": role_form
        or RoleForm(actor=request.user, initial={"role": user.role, "organization": user.organization_id}),
        "may_manage": services.may_manage_user(request.user, user) and user.pk != request.user.pk,
        "has_second_factor": has_second_factor(user),
        "active_keys": active_keys,
        "ended_keys": ended_keys,
        "organizations": Organization.objects.order_by("name") if request.user.is_super_admin else [],
        "now": now,
    }


@login_required
def user_detail(request, pk):
    user = user_for(request.user, pk)
    return render(request, "accounts/user_detail.html", _detail_context(request, user))


@login_required
@require_POST
def user_role_view(request, pk):
    user = user_for(request.user, pk)
    form = RoleForm(request.POST, actor=request.user)
    if form.is_valid():
        try:
            user = services.user_set_role(
                actor=request.user,
                user=user,
                role=form.cleaned_data["role"],
                organization=form.cleaned_data.get("organization"),
            )
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(
                request, _("%(name)s is now %(role)s.") % {"name": user.username, "role": user.get_role_display()}
            )
            return redirect("user_detail", user.pk)
    return render(request, "accounts/user_detail.html", _detail_context(request, user, role_form=form), status=400)


@login_required
@require_POST
def user_active_view(request, pk):
    user = user_for(request.user, pk)
    active = request.POST.get("active") == "true"
    try:
        user = services.user_set_active(actor=request.user, user=user, active=active)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            (_("%(name)s reactivated.") if active else _("%(name)s deactivated: signed out everywhere."))
            % {"name": user.username},
        )
    return redirect("user_detail", user.pk)


@login_required
@require_POST
def user_second_factor_reset_view(request, pk):
    user = user_for(request.user, pk)
    second_factor_reset(actor=request.user, user=user)
    messages.success(
        request,
        _("%(name)s's second factor was removed; they enrol again at their next sign-in.") % {"name": user.username},
    )
    return redirect("user_detail", user.pk)


@login_required
def user_temporary_key(request, pk):
    """A super-admin picks the partner first: the organization's temporary keys page, the partner chosen."""
    require_super_admin(request.user)
    user = user_for(request.user, pk)
    organization = get_object_or_404(Organization, slug=request.GET.get("organization", ""))
    return redirect(reverse("temporary_key_list", args=[organization.slug]) + f"?issued_to={user.pk}")
