"""Pages: add an environment, enable/disable/delete/re-attach it; machines, detach, primary."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from core.pages import bounded_total, form_add_service_errors, page_of, sorting_of
from environments.forms import EnvironmentForm, EnvironmentStatusForm, MachineClaimForm, MachinePrimaryForm
from environments.models import Environment, MachineClaim
from environments.selectors import (
    MACHINE_SORTS,
    environment_for_user,
    environments_of,
    machine_for_user,
    machines_search,
)
from environments.services import environment_create, machine_claim_file, machine_set_primary
from licenses.bindings import environment_set_status, machine_claim_settle, machine_detach
from licenses.selectors import machines_of
from organizations.selectors import organization_for_user, require_super_admin
from organizations.tabs import organization_page_context

STATUS_DONE = {
    Environment.Status.ENABLED: gettext_lazy("Environment %(name)s enabled."),
    Environment.Status.DISABLED: gettext_lazy("Environment %(name)s disabled."),
    Environment.Status.DELETED: gettext_lazy("Environment %(name)s deleted."),
    "re-attached": gettext_lazy("Environment %(name)s re-attached."),
}


@login_required
@require_POST
def environment_add(request, slug):
    organization = organization_for_user(request.user, slug)
    form = EnvironmentForm(request.POST)
    if form.is_valid():
        try:
            environment = environment_create(
                organization=organization, actor=request.user, name=form.cleaned_data["name"]
            )
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, _("Environment %(name)s added.") % {"name": environment.name})
            return redirect(organization)
    page = page_of(environments_of(organization), request)
    context = organization_page_context(request, organization, "environments", page=page, form=form, now=timezone.now())
    return render(request, "organizations/organization_environments.html", context, status=400)


# Disabling or deleting stops every agent in the environment: both are confirmed first (in a <dialog>
# that sends ``confirm=yes``, or without script on the page this view answers).
_CONFIRMED_STATUSES = (Environment.Status.DISABLED, Environment.Status.DELETED)


@login_required
def environment_status(request, slug, environment_uuid):
    """Enable, disable, delete (soft) or re-attach; disabling and deleting are confirmed first."""
    organization = organization_for_user(request.user, slug)
    environment = environment_for_user(request.user, organization, environment_uuid)
    new_status = Environment.Status.DELETED
    if request.method == "POST":
        form = EnvironmentStatusForm(request.POST)
        if (
            form.is_valid()
            and form.cleaned_data["status"] in _CONFIRMED_STATUSES
            and request.POST.get("confirm") != "yes"
        ):
            new_status = form.cleaned_data["status"]
        elif form.is_valid():
            status = form.cleaned_data["status"]
            reattaching = environment.deleted_at is not None and status == Environment.Status.ENABLED
            try:
                environment = environment_set_status(environment=environment, actor=request.user, status=status)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                done = STATUS_DONE["re-attached" if reattaching else status]
                messages.success(request, done % {"name": environment.name})
            return redirect(organization)
    return render(
        request,
        "environments/environment_status_confirm.html",
        organization_page_context(
            request, organization, "environments", environment=environment, new_status=new_status
        ),
    )


@login_required
def machine_list(request, slug, claim_form=None):
    organization = organization_for_user(request.user, slug)
    environment = None
    if request.GET.get("environment"):
        environment = environment_for_user(request.user, organization, request.GET["environment"])
    sorting = sorting_of(request, MACHINE_SORTS, "-last_seen")
    search = (request.GET.get("q") or "")[:100]
    queryset = machines_search(machines_of(organization, environment), search).order_by(*sorting.ordering)
    environments = list(Environment.objects.filter(organization=organization).order_by("deleted_at", "name"))
    return render(
        request,
        "environments/machine_list.html",
        organization_page_context(
            request,
            organization,
            "machines",
            page=page_of(queryset, request),
            total=bounded_total(queryset),
            sorting=sorting,
            search=search,
            filtered=bool(search or environment),
            environment=environment,
            environments=environments,
            claim_form=claim_form or MachineClaimForm(),
            claims=MachineClaim.objects.filter(claimant=organization).select_related("machine")[:20],
        ),
        status=400 if claim_form is not None else 200,
    )


@login_required
def machine_detach_view(request, slug, uid):
    """Detach a machine: GET says what will happen, POST does it."""
    organization = organization_for_user(request.user, slug)
    machine = machine_for_user(request.user, organization, uid)
    if request.method == "POST":
        released = machine_detach(machine=machine, actor=request.user)
        count = len(released)
        messages.success(
            request,
            ngettext(
                "Machine %(machine)s detached; %(count)d key can be activated again.",
                "Machine %(machine)s detached; %(count)d keys can be activated again.",
                count,
            )
            % {"machine": machine, "count": count},
        )
        return redirect(reverse("machine_list", args=[organization.slug]))
    bound_keys = list(machine.license_keys.order_by("-issued_at"))
    return render(
        request,
        "environments/machine_detach_confirm.html",
        organization_page_context(request, organization, "machines", machine=machine, bound_keys=bound_keys),
    )


@login_required
@require_POST
def machine_primary(request, slug, uid):
    organization = organization_for_user(request.user, slug)
    machine = machine_for_user(request.user, organization, uid)
    form = MachinePrimaryForm(request.POST)
    if form.is_valid():
        machine = machine_set_primary(machine=machine, actor=request.user, is_primary=form.cleaned_data["is_primary"])
        done = _("Machine %(machine)s is now the primary machine.") if machine.is_primary else None
        done = done or _("Machine %(machine)s is no longer the primary machine.")
        messages.success(request, done % {"machine": machine})
    return redirect("machine_list", organization.slug)


# Machine claims: a machine of ours that another organization holds -------------------------------------


@login_required
@require_POST
def machine_claim(request, slug):
    """File a claim to a machine another organization holds; a super-admin settles it."""
    organization = organization_for_user(request.user, slug)
    form = MachineClaimForm(request.POST)
    if form.is_valid():
        try:
            machine_claim_file(
                organization=organization,
                actor=request.user,
                uid=form.cleaned_data["uid"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(
                request, _("Claim filed: the vendor's super-admins will settle it with both organizations.")
            )
            return redirect("machine_list", organization.slug)
    return machine_list(request, slug, claim_form=form)


@login_required
def machine_claims(request):
    """Super-admins: the open claims (and the latest settled), with what each side has on the machine."""
    require_super_admin(request.user)
    claims = MachineClaim.objects.select_related("machine", "claimant", "holder", "requested_by", "settled_by")
    return render(
        request,
        "environments/machine_claims.html",
        {
            "open_claims": list(claims.filter(status=MachineClaim.Status.OPEN).order_by("created_at", "id")[:200]),
            "settled_claims": list(claims.exclude(status=MachineClaim.Status.OPEN).order_by("-settled_at", "-id")[:20]),
        },
    )


@login_required
@require_POST
def machine_claim_decide(request, claim_id: int):
    require_super_admin(request.user)
    claim = MachineClaim.objects.filter(pk=claim_id).first()
    if claim is None:
        raise Http404("No such claim.")
    release = request.POST.get("decision") == "release"
    try:
        machine_claim_settle(claim=claim, actor=request.user, release=release)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if release:
            messages.success(
                request,
                _("Machine released from %(holder)s: %(claimant)s's agent can activate it.")
                % {"holder": claim.holder, "claimant": claim.claimant},
            )
        else:
            messages.success(
                request,
                _("Claim of %(claimant)s rejected; %(holder)s keeps the machine.")
                % {"claimant": claim.claimant, "holder": claim.holder},
            )
    return redirect("machine_claims")
