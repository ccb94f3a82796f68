"""Pages: license keys of an organization (machine, temporary, server, trial), a key's history,
revoke, show a key again, bulk delete of server keys, and manual activation."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from core.pages import bounded_total, form_add_service_errors, page_of, secret_response, sorting_of
from licenses.agent_api.flow import license_activate
from licenses.forms import (
    KeyFilterForm,
    MachineKeyForm,
    ManualActivationForm,
    RevokeForm,
    ServerKeyEditForm,
    ServerKeyForm,
    ServerKeySelectionForm,
    TemporaryKeyForm,
)
from licenses.models import Kind, LicenseKey, moves_in_last_30_days
from licenses.selectors import (
    ANY_KIND,
    KEY_SORTS,
    history_of,
    issued_key_text,
    keys_filtered,
    keys_of,
    latest_trial_key,
    license_key_for_user,
    may_change_key,
    may_issue,
    temporary_keys_active,
    temporary_keys_ended,
    trial_banner_text,
)
from licenses.services import (
    license_delete_many,
    license_find,
    license_issue,
    license_reveal,
    license_revoke,
    license_update,
)
from licenses.stopgaps import stopgap_allowance, stopgap_grant, stopgap_refusal
from organizations.selectors import organization_for_user, require_super_admin
from organizations.tabs import organization_page_context

LIST_KINDS = {
    Kind.MACHINE: gettext_lazy("Machine keys"),
    Kind.TRIAL: gettext_lazy("Trial keys"),
    Kind.FREE: gettext_lazy("Free-edition keys"),
    Kind.SERVER: gettext_lazy("Server access keys"),
    Kind.TEMPORARY: gettext_lazy("Temporary keys"),
    ANY_KIND: gettext_lazy("All keys"),
}


# Post/redirect/get: a key just issued is remembered in the session by its id only, and its text is
# shown on the page the browser is redirected to, once; a reload then shows the list without it.
_ISSUED_KEY = "issued_key"


def _issued_redirect(request, license_key: LicenseKey, url: str):
    request.session[_ISSUED_KEY] = str(license_key.public_id)
    return redirect(url)


def _issued_once(request, organization) -> dict:
    """``issued_key`` and ``issued_text`` of the key issued just before this page, the first time only."""
    public_id = request.session.pop(_ISSUED_KEY, None)
    license_key = (
        LicenseKey.objects.visible().filter(public_id=public_id, organization=organization).first()
        if public_id
        else None
    )
    if license_key is None:
        return {}
    return {"issued_key": license_key, "issued_text": issued_key_text(license_key)}


def _list_page(request, template: str, context: dict):
    """A list page; never cached when it shows a key just issued."""
    if context.get("issued_key") is not None:
        return secret_response(request, template, context)
    return render(request, template, context)


def _page_with_organization(queryset, request, organization):
    page = page_of(queryset, request)
    for row in page.rows:
        row.organization = organization
    return page


def _key_list(request, organization, kind: str, now) -> dict:
    """A list of keys as the filters above it and its sorted column ask: the page, the total, the form."""
    filters = KeyFilterForm(request.GET or None)
    sorts = KEY_SORTS if kind == Kind.SERVER else {name: KEY_SORTS[name] for name in ("issued", "expires", "status")}
    sorting = sorting_of(request, sorts, "-issued")
    queryset = keys_of(organization, kind)
    if filters.is_valid():
        queryset = keys_filtered(queryset, organization, filters.cleaned_data, now)
    queryset = queryset.order_by(*sorting.ordering)
    return {
        "filters": filters,
        "filtered": any(value for name, value in request.GET.items() if name not in ("kind", "sort", "page")),
        "sorting": sorting,
        "total": bounded_total(queryset),
        "page": _page_with_organization(queryset, request, organization),
    }


# The licenses tab: machine keys (and a read-only list of every other kind) ----------------------


def _license_list_context(request, organization, kind, form=None, **extra):
    now = timezone.now()
    return organization_page_context(
        request,
        organization,
        "licenses",
        kind=kind,
        kinds=LIST_KINDS,
        form=form or MachineKeyForm(organization=organization),
        may_issue=may_issue(request.user, organization, Kind.MACHINE),
        now=now,
        **_key_list(request, organization, kind, now),
        **extra,
    )


@login_required
def license_list(request, slug):
    organization = organization_for_user(request.user, slug)
    kind = request.GET.get("kind") or Kind.MACHINE
    if kind not in LIST_KINDS:
        raise Http404("No such kind of key.")
    context = _license_list_context(request, organization, kind, **_issued_once(request, organization))
    return _list_page(request, "licenses/license_list.html", context)


def _issue_from_form(request, form, template: str, context_for, issue, done_url: str):
    """Issue a key from a valid form and redirect to ``done_url``, which shows it once; else the page
    again, with the form's or the service's errors next to their fields and what the user typed."""
    if form.is_valid():
        try:
            license_key, _text = license_issue(actor=request.user, **issue(form.cleaned_data))
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            return _issued_redirect(request, license_key, done_url)
    return render(request, template, context_for(form=form), status=400)


@login_required
@require_POST
def machine_key_issue(request, slug):
    organization = organization_for_user(request.user, slug)
    if not may_issue(request.user, organization, Kind.MACHINE):
        raise PermissionDenied("Machine keys are issued by the organization's admins and super-admins.")
    return _issue_from_form(
        request,
        MachineKeyForm(request.POST, organization=organization),
        "licenses/license_list.html",
        lambda **extra: _license_list_context(request, organization, Kind.MACHINE, **extra),
        issue=lambda data: {
            "organization": organization,
            "kind": Kind.MACHINE,
            "environment": data["environment"],
            "description": data["description"],
        },
        done_url=reverse("license_list", args=[organization.slug]),
    )


# One key: its history, revoke, show it again -------------------------------------------------------


@login_required
def license_detail(request, public_id):
    license_key = license_key_for_user(request.user, public_id)
    organization = license_key.organization
    page = page_of(history_of(license_key), request)
    now = timezone.now()
    tab = {Kind.TEMPORARY: "temporary", Kind.SERVER: "server", Kind.TRIAL: "trial", Kind.FREE: "trial"}.get(
        license_key.kind, "licenses"
    )
    return render(
        request,
        "licenses/license_detail.html",
        organization_page_context(
            request,
            organization,
            tab,
            license_key=license_key,
            page=page,
            now=now,
            moves=moves_in_last_30_days(license_key, now) if license_key.is_bindable else None,
            may_change=may_change_key(request.user, license_key),
        ),
    )


@login_required
def license_revoke_view(request, public_id):
    """GET: what revoking will do, and a reason; POST: revoke."""
    license_key = license_key_for_user(request.user, public_id)
    if not may_change_key(request.user, license_key):
        raise PermissionDenied("Temporary keys are revoked by super-admins.")
    if license_key.status == LicenseKey.Status.REVOKED:
        messages.info(request, _("This key is already revoked."))
        return redirect("license_detail", license_key.public_id)
    form = RevokeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            license_revoke(license_key=license_key, actor=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, _("%(key)s revoked: agents using it are now refused.") % {"key": license_key})
            return redirect("license_detail", license_key.public_id)
    return render(
        request,
        "licenses/license_revoke.html",
        organization_page_context(request, license_key.organization, "licenses", license_key=license_key, form=form),
    )


@login_required
@require_POST
def license_reveal_view(request, public_id):
    """Show a stored key again to someone entitled to it; the showing is audited."""
    license_key = license_key_for_user(request.user, public_id, to_reveal=True)
    if not (may_change_key(request.user, license_key) or license_key.issued_to_id == request.user.pk):
        raise PermissionDenied("A temporary key is shown again to super-admins and the person it was issued to.")
    text = license_reveal(license_key=license_key, actor=request.user)
    return secret_response(request, "licenses/license_shown.html", {"license_key": license_key, "key_text": text})


# Temporary keys (super-admins issue them; the organization's admins and co-admins see them) ---------


TEMPORARY_SORTS = {name: KEY_SORTS[name] for name in ("expires", "issued")}


def _temporary_context(request, organization, form=None, **extra):
    """The temporary keys that work (searched, ending soon, sorted by end or issue) and the latest ended."""
    now = timezone.now()
    issues = may_issue(request.user, organization, Kind.TEMPORARY)
    filters = KeyFilterForm(request.GET or None)
    sorting = sorting_of(request, TEMPORARY_SORTS, "expires")
    active = temporary_keys_active(organization, now)
    if filters.is_valid():  # every key listed works: the status filter does not apply
        active = keys_filtered(active, organization, {**filters.cleaned_data, "status": ""}, now)
    active = active.order_by(*sorting.ordering)
    return organization_page_context(
        request,
        organization,
        "temporary",
        form=(form or TemporaryKeyForm()) if issues else None,
        filters=filters,
        without_status=True,
        filtered=any(value for name, value in request.GET.items() if name in ("q", "ending")),
        sorting=sorting,
        total=bounded_total(active),
        page=_page_with_organization(active, request, organization),
        ended=temporary_keys_ended(organization, now),
        now=now,
        **extra,
    )


@login_required
def temporary_key_list(request, slug):
    organization = organization_for_user(request.user, slug)
    form = TemporaryKeyForm(initial={"issued_to": request.GET.get("issued_to")})  # a partner picked on People
    context = _temporary_context(request, organization, form, **_issued_once(request, organization))
    return _list_page(request, "licenses/temporary_key_list.html", context)


@login_required
@require_POST
def temporary_key_generate(request, slug):
    organization = organization_for_user(request.user, slug)
    if not may_issue(request.user, organization, Kind.TEMPORARY):
        raise PermissionDenied(_("Temporary keys are issued by super-admins."))
    return _issue_from_form(
        request,
        TemporaryKeyForm(request.POST),
        "licenses/temporary_key_list.html",
        lambda **extra: _temporary_context(request, organization, **extra),
        issue=lambda data: {
            "organization": organization,
            "kind": Kind.TEMPORARY,
            "ttl": data["ttl"],
            "issued_to": data["issued_to"],
            "description": data["description"],
        },
        done_url=reverse("temporary_key_list", args=[organization.slug]),
    )


# Server access keys (admins, co-admins, super-admins) ---------------------------------------------


def _server_context(request, organization, form=None, **extra):
    now = timezone.now()
    return organization_page_context(
        request,
        organization,
        "server",
        form=form or ServerKeyForm(),
        now=now,
        **_key_list(request, organization, Kind.SERVER, now),
        **extra,
    )


@login_required
def server_key_list(request, slug):
    organization = organization_for_user(request.user, slug)
    context = _server_context(request, organization, **_issued_once(request, organization))
    return _list_page(request, "licenses/server_key_list.html", context)


@login_required
@require_POST
def server_key_generate(request, slug):
    organization = organization_for_user(request.user, slug)
    return _issue_from_form(
        request,
        ServerKeyForm(request.POST),
        "licenses/server_key_list.html",
        lambda **extra: _server_context(request, organization, **extra),
        issue=lambda data: {
            "organization": organization,
            "kind": Kind.SERVER,
            "machine_name": data["machine_name"],
            "expires_on": data["expires_on"],
            "description": data["description"],
        },
        done_url=reverse("server_key_list", args=[organization.slug]),
    )


@login_required
def server_key_edit(request, public_id):
    license_key = license_key_for_user(request.user, public_id)
    if license_key.kind != Kind.SERVER:
        raise Http404("Only server access keys are edited here.")
    if license_key.status == LicenseKey.Status.REVOKED:
        messages.info(request, _("A revoked key cannot be edited."))
        return redirect("license_detail", license_key.public_id)
    form = ServerKeyEditForm(request.POST or None, license_key=license_key)
    if request.method == "POST" and form.is_valid():
        try:
            license_update(license_key=license_key, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, _("%(key)s saved.") % {"key": license_key})
            return redirect("server_key_list", license_key.organization.slug)
    return render(
        request,
        "licenses/server_key_edit.html",
        organization_page_context(request, license_key.organization, "server", license_key=license_key, form=form),
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def server_key_delete(request, slug):
    """Delete the selected server keys: the first POST asks for confirmation, the second deletes."""
    organization = organization_for_user(request.user, slug)
    form = ServerKeySelectionForm(request.POST, organization=organization)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("keys", [_("Select at least one key.")])))
        return redirect("server_key_list", organization.slug)
    license_keys = list(form.cleaned_data["keys"])
    if request.POST.get("confirm") == "yes":
        count = license_delete_many(license_keys=license_keys, actor=request.user)
        messages.success(
            request,
            ngettext("%(count)d server access key deleted.", "%(count)d server access keys deleted.", count)
            % {"count": count},
        )
        return redirect("server_key_list", organization.slug)
    for license_key in license_keys:
        license_key.organization = organization
    return render(
        request,
        "licenses/server_key_delete_confirm.html",
        organization_page_context(request, organization, "server", license_keys=license_keys, now=timezone.now()),
    )


# Trial key (organization admins) ------------------------------------------------------------------


@login_required
def trial_key(request, slug):
    """The trial tab; POST requests a 30-day trial key (it never moves the subscription's end; or is
    refused with the stopgap rule's reason), or with ``kind=free`` a free-edition key."""
    organization = organization_for_user(request.user, slug)
    if not may_issue(request.user, organization, Kind.TRIAL):
        raise PermissionDenied(_("Only the organization's admins request trial keys."))
    now = timezone.now()
    if request.method == "POST":
        kind = Kind.FREE if request.POST.get("kind") == Kind.FREE else Kind.TRIAL
        try:
            license_key, _text = license_issue(
                organization=organization, kind=kind, actor=request.user, description="Requested in the portal"
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("trial_key", organization.slug)
        return _issued_redirect(request, license_key, reverse("trial_key", args=[organization.slug]))
    latest = latest_trial_key(organization)
    context = organization_page_context(
        request,
        organization,
        "trial",
        latest=latest,
        banner=trial_banner_text(latest, now) if latest else "",
        page=_page_with_organization(keys_of(organization, Kind.TRIAL), request, organization),
        free_keys=_page_with_organization(keys_of(organization, Kind.FREE), request, organization),
        stopgap=stopgap_allowance(organization),
        stopgap_refusal=stopgap_refusal(organization),
        now=now,
        **_issued_once(request, organization),
    )
    return _list_page(request, "licenses/trial_key.html", context)


@login_required
@require_POST
def stopgap_grant_view(request, slug):
    """A super-admin allows the organization one more stopgap key in its current subscription period."""
    organization = organization_for_user(request.user, slug)
    require_super_admin(request.user)
    stopgap_grant(organization=organization, actor=request.user, reason=request.POST.get("reason", ""))
    messages.success(
        request, _("%(name)s may request one more stopgap (trial) key in this period.") % {"name": organization.name}
    )
    return redirect("trial_key", organization.slug)


# Manual activation ----------------------------------------------------------------------------------


@login_required
def manual_activation(request):
    """Enter a key and a machine UID; get the activation code, recorded like an online activation."""
    user = request.user
    if not (user.is_super_admin or user.is_org_manager):
        raise PermissionDenied(_("Only administrators activate machines manually."))
    form = ManualActivationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        found = license_find(data["license_key"])
        if found is None or found.deleted_at is not None or not user.can_manage(found.organization):
            form.add_error("license_key", _("No such license key."))
        else:
            outcome = license_activate(
                key_text=data["license_key"],
                uid=data["machine_uid"],
                fingerprint=None,
                machine_name=data["machine_name"],
                actor=user,
                manual=True,
            )
            if outcome.verdict.valid:
                context = {"form": ManualActivationForm(), "outcome": outcome, "machine_uid": data["machine_uid"]}
                return secret_response(request, "licenses/manual_activation.html", context)
            form.add_error(None, f"{outcome.verdict.translated_detail()} ({outcome.verdict.code})")
    return render(request, "licenses/manual_activation.html", {"form": form}, status=400 if form.errors else 200)
