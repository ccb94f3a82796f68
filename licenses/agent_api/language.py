"""The language of an agent call's texts (``detail``, ``license.banner``): English, or German when
the call's ``Accept-Language`` prefers it (AGENT_PROTOCOL.md, "Additions in 1.1"). Codes never change.

The hot path pays nothing for it: a call without the header (the reference agent sends none) reads
one ``META`` entry, and its English texts are built without the catalogue. A header is parsed once
per distinct value (cached); only a German answer looks its texts up, under
``translation.override``, so the thread's language (it may have just served a German page) never
matters. A call that sends the header gets ``Vary: Accept-Language`` and ``Content-Language``.
"""

from __future__ import annotations

import functools

from django.utils import translation

from core.translatable import Message

ENGLISH, GERMAN = "en", "de"
_MAX_HEADER = 500  # as Django's LocaleMiddleware: the rest of a longer header is not read


def requested_language(request) -> str | None:
    """``de`` or ``en`` for a call that sends ``Accept-Language``; None for one that sends none."""
    header = request.META.get("HTTP_ACCEPT_LANGUAGE")
    return None if header is None else _language_of(header)


@functools.lru_cache(maxsize=256)
def _language_of(header: str) -> str:
    """The language the header prefers among English and German (its first at the highest q);
    English when it names neither, or refuses both (``q=0``)."""
    best, best_q = ENGLISH, 0.0
    for item in header[:_MAX_HEADER].split(","):
        tag, _, parameters = item.partition(";")
        primary = tag.strip().lower().partition("-")[0]
        if primary not in (ENGLISH, GERMAN):
            continue
        quality = 1.0
        parameters = parameters.strip().lower()
        if parameters.startswith("q="):
            try:
                quality = float(parameters[2:])
            except ValueError:
                continue
        if quality > best_q:
            best, best_q = primary, quality
    return best


def text_in(text: Message | str, language: str | None) -> str:
    """``text`` (a ``Message``, or a msgid without values) in ``language``; English unless German."""
    if language != GERMAN:
        return str(text)
    with translation.override(GERMAN):
        return text.translated() if isinstance(text, Message) else translation.gettext(text)


def verdict_in_german(body: dict, outcome) -> None:
    """Replace the English ``detail`` and ``license.banner`` of a verdict's body by their German."""
    with translation.override(GERMAN):
        body["detail"] = outcome.verdict.translated_detail()
        license_part = body.get("license")
        if license_part is not None and "banner" in license_part:
            license_part["banner"] = outcome.license_key.banner_message.translated()


def mark_language(response, language: str | None):
    """The headers of an answer whose texts followed ``Accept-Language`` (none without the header)."""
    if language is not None:
        response["Content-Language"] = language
        response["Vary"] = "Accept-Language"
    return response
