"""Who may see which users and invitations: one scoped lookup each (others answer 404)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import Invitation
from organizations.models import User


def require_people_manager(user) -> None:
    """The people pages are for super-admins and organization admins."""
    if not (user.is_super_admin or (user.role == User.Role.ORG_ADMIN and user.organization_id)):
        raise PermissionDenied("Only super-admins and organization admins manage users.")


def users_for(actor) -> QuerySet[User]:
    require_people_manager(actor)
    users = User.objects.select_related("organization").order_by("username", "pk")
    if actor.is_super_admin:
        return users
    return users.filter(organization_id=actor.organization_id).exclude(
        Q(role=User.Role.SUPER_ADMIN) | Q(is_superuser=True)
    )


def user_for(actor, pk: int) -> User:
    user = users_for(actor).filter(pk=pk).first()
    if user is None:
        raise Http404("No such user.")
    return user


def user_search(users: QuerySet[User], text: str) -> QuerySet[User]:
    text = (text or "").strip()
    return users.filter(Q(username__icontains=text) | Q(email__icontains=text)) if text else users


def pending_invitations_for(actor) -> QuerySet[Invitation]:
    require_people_manager(actor)
    invitations = Invitation.objects.select_related("organization", "invited_by").filter(
        accepted_at__isnull=True, cancelled_at__isnull=True, expires_at__gt=timezone.now()
    )
    return invitations if actor.is_super_admin else invitations.filter(organization_id=actor.organization_id)


def invitation_for(actor, invitation_uuid) -> Invitation:
    require_people_manager(actor)
    invitations = Invitation.objects.select_related("organization")
    if not actor.is_super_admin:
        invitations = invitations.filter(organization_id=actor.organization_id)
    invitation = invitations.filter(uuid=invitation_uuid).first()
    if invitation is None:
        raise Http404("No such invitation.")
    return invitation
