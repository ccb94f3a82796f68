"""The language switcher in the page header: Django's ``set_language`` (the cookie, the redirect back),
and for a signed-in user the choice is remembered on the account (``User.language``)."""

from __future__ import annotations

from django.conf import settings
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from accounts.services import user_set_language


@require_POST
def language_set(request):
    response = set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        user_set_language(user=request.user, language=language)
    return response
