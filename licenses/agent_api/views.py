"""The agent API, version 1 (AGENT_PROTOCOL.md): JSON in, signed JSON verdicts out.

Checks run in the protocol's order: route (404), method (405), content type (415),
size (413), body and fields (400), rate (429). Views here only translate HTTP to
the agent calls in ``licenses.agent_api.flow`` and back.
"""

from __future__ import annotations

import functools
import json
import logging
import re

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connection, connections
from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext_noop
from django.views.decorators.csrf import csrf_exempt

from core import ratelimit
from core.errors import error_response
from core.time import rfc3339
from core.translatable import Message
from environments.fingerprint import CONTROL_CHARACTER, FingerprintError, fingerprint_parse
from licenses import keyformat, signing
from licenses.agent_api import flow, state_cache
from licenses.agent_api.flow import AgentOutcome, license_activate, license_deactivate, license_validate
from licenses.agent_api.language import GERMAN, mark_language, requested_language, text_in, verdict_in_german
from licenses.openapi import openapi_document
from licenses.verdicts import Code

logger = logging.getLogger(__name__)

MAX_BODY = 16 * 1024
MAX_DEPTH = 32  # AGENT_PROTOCOL.md 1.1: a body nested deeper is refused
_NONCE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The protocol errors' details (msgids: they follow Accept-Language, see ``language``).
_TOO_LARGE = Message(gettext_noop("The body is larger than %(limit)d bytes."), {"limit": MAX_BODY})
_UNAVAILABLE = gettext_noop("The license service is unavailable; retry later.")
_INTERNAL_ERROR = gettext_noop("An internal error occurred.")
_USE_GET = gettext_noop("Use GET.")


class BadRequest(Exception):
    pass


def _verdict_body(outcome: AgentOutcome, uid: str, nonce: str | None, key_digest: str) -> dict:
    verdict = outcome.verdict
    body: dict = {"valid": verdict.valid, "code": verdict.code, "detail": verdict.detail}
    license_key = outcome.license_key
    if license_key is not None:
        body["license"] = {
            "id": str(license_key.public_id),
            "kind": license_key.kind,
            "edition": license_key.edition,
            "organization": {"id": str(license_key.organization.uuid), "name": license_key.organization.name},
            "environment": license_key.environment.name if license_key.environment_id else None,
            "expires_at": rfc3339(license_key.effective_expires_at),
            "capabilities": license_key.capabilities,
            "key_digest": key_digest,  # the key this verdict is about (1.1: the agent checks it)
        }
        if (banner := license_key.banner) is not None:
            body["license"]["banner"] = banner
    if verdict.valid:
        machine = outcome.machine
        activated_at = license_key.bound_at or (machine.bound_at if machine else None)
        body["machine"] = {"uid": uid, "activated_at": rfc3339(activated_at)}
    if outcome.token:
        body["activation"] = outcome.token
    if verdict.changed and not verdict.valid:
        body["changed"] = verdict.changed
    if nonce is not None:
        body["nonce"] = nonce
    body["time"] = rfc3339(outcome.now)
    return body


# ``json.dumps`` with any option but the defaults builds a new encoder on every call.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def signed_json(data: dict, status: int = 200) -> HttpResponse:
    """A JSON response whose exact bytes carry the ``License-Signature`` header."""
    body = _COMPACT_JSON.encode(data).encode("utf-8")
    response = HttpResponse(body, status=status, content_type="application/json")
    response["License-Signature"] = signing.signature_header(body)
    response["Cache-Control"] = "no-store"
    return response


def _parse_request(request) -> dict:
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise _Refusal(415, "UNSUPPORTED_MEDIA_TYPE", gettext_noop("Send the body as Content-Type: application/json."))
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY:
        raise _Refusal(413, "TOO_LARGE", _TOO_LARGE)
    raw = _body(request, declared)
    if len(raw) > MAX_BODY:
        raise _Refusal(413, "TOO_LARGE", _TOO_LARGE)
    try:
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise BadRequest(f"the body is nested deeper than {MAX_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the body is not valid UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    # More brackets than the limit is the only way to be too deep: most bodies skip the walk.
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _depth(data) > MAX_DEPTH:
        raise BadRequest(f"the body is nested deeper than {MAX_DEPTH} levels")
    return data


def _body(request, declared: int) -> bytes:
    """The request's body, up to one byte more than ``MAX_BODY``.

    A chunked body has no Content-Length, so Django reads it as empty. A server that decodes the
    chunks itself says so (``wsgi.input_terminated``, as gunicorn does), and the body is read from
    its input stream up to its end; any other server passes the chunks on undecoded, and the call is
    refused with 411 rather than answered as if it had no body.
    """
    if declared or "chunked" not in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        return request.read(MAX_BODY + 1)
    if not request.META.get("wsgi.input_terminated"):
        raise _Refusal(
            411, "LENGTH_REQUIRED", gettext_noop("Send the body with a Content-Length header (not chunked).")
        )
    return request.META["wsgi.input"].read(MAX_BODY + 1)


def _depth(value: object) -> int:
    """How deeply ``value`` nests arrays and objects (a scalar is 0, ``{}`` is 1)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:  # deeper than the limit is all this needs to know
                pending += [(child, level + 1) for child in (item.values() if isinstance(item, dict) else item)]
    return deepest


def _fields(data: dict) -> tuple[str, object, str | None, str]:
    key = data.get("license_key")
    if not isinstance(key, str) or not key.strip():
        raise BadRequest("license_key is required and must be a non-empty string")
    if len(key) > 1024:
        raise BadRequest("license_key is too long")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("license_key is not valid Unicode text") from None
    try:
        fingerprint = fingerprint_parse(data.get("fingerprint"))
    except FingerprintError as error:
        raise BadRequest(str(error)) from None
    nonce = data.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not _NONCE.match(nonce)):
        raise BadRequest("nonce must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -")
    machine_name = data.get("machine_name")
    if machine_name is not None and (not isinstance(machine_name, str) or len(machine_name) > 200):
        raise BadRequest("machine_name must be a string of at most 200 characters")
    if machine_name and CONTROL_CHARACTER.search(machine_name):
        raise BadRequest("machine_name contains a control character")
    return key, fingerprint, nonce, (machine_name or "").strip()


class _Refusal(Exception):
    """A protocol error; its ``detail`` is a ``Message`` or a msgid (it follows ``Accept-Language``)."""

    def __init__(self, status: int, code: str, detail: Message | str, headers: dict | None = None):
        super().__init__(str(detail))
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


def _guess_limit() -> ratelimit.Limit:
    """Failed key guesses per address: well-formed keys (checksum and all) that name no key. Checked
    on every call without being counted; ``_count_guess`` counts them."""
    return ratelimit.Limit("api-guess", settings.API_FAILED_GUESS_LIMIT_PER_IP, 60, counts=False)


def _rate_check(request, digest: str, route: tuple[str, str] | None, uid: str) -> state_cache.Prefetch | None:
    """Count the call against its address's and its key's limits, check its address's failed
    guesses, and fetch the key's cached rows in the same round trip to Redis (``state_cache``);
    without Redis, count in the process.

    An address over its failed-guess limit waits for the rest of the minute whatever key it sends:
    refusing only the unknown keys would tell a guesser which of its guesses exist.
    """
    checks = [
        (ratelimit.Limit("api-ip", settings.API_RATE_LIMIT_PER_IP, 60), request.client_ip),
        (ratelimit.Limit("api-key", settings.API_RATE_LIMIT_PER_KEY, 60), digest[:32]),
        (_guess_limit(), request.client_ip),
    ]
    kind, organization = route or ("", None)
    seen_at = int(flow.now_utc().timestamp())  # looked up on each call: tests move the services' clock
    prefetch = state_cache.prefetch(
        checks, digest=digest, organization=organization, uid=uid, kind=kind, seen_at=seen_at
    )
    retry_after = prefetch.retry_after if prefetch is not None else ratelimit.hit_all(checks)
    if retry_after:
        raise _Refusal(
            429,
            "RATE_LIMITED",
            Message(gettext_noop("Too many requests; retry in %(seconds)s seconds."), {"seconds": retry_after}),
            {"Retry-After": str(retry_after)},
        )
    return prefetch


def _count_guess(request) -> None:
    """Count a failed key guess against the caller's address; say so once it reaches the limit."""
    limit = _guess_limit()
    count = ratelimit.record(limit, request.client_ip)
    if count == limit.limit:
        logger.warning(
            "failed key guesses from %s: %d well-formed unknown keys this minute; refusing its calls until it ends",
            request.client_ip,
            count,
        )


def json_errors(view):
    """Turn database outages and bugs into the protocol's JSON errors, never HTML."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except _Refusal as refusal:
            return _error(request, refusal.status, refusal.code, refusal.detail, refusal.headers)
        except BadRequest as error:  # which field is malformed, for the agent's developer: English
            return error_response(400, "BAD_REQUEST", str(error))
        except (OperationalError, InterfaceError) as error:
            logger.warning("database unavailable: %s", type(error).__name__)
            _close_broken_connection()
            return _error(request, 503, "UNAVAILABLE", _UNAVAILABLE, {"Retry-After": "5"})
        except DatabaseError:
            logger.exception("database error in the agent API")
            _close_broken_connection()
            return _error(request, 500, "INTERNAL_ERROR", _INTERNAL_ERROR)
        except Exception:
            logger.exception("bug in the agent API")
            return _error(request, 500, "INTERNAL_ERROR", _INTERNAL_ERROR)

    return wrapper


def _error(request, status: int, code: str, detail: Message | str, headers: dict | None = None):
    """A protocol error whose ``detail`` follows the call's ``Accept-Language``."""
    language = requested_language(request)
    return mark_language(error_response(status, code, text_in(detail, language), headers), language)


def _close_broken_connection() -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - the connection is already broken
        pass


def on_a_live_connection(call):
    """Run an agent call (or the readiness probe) without Django's per-request health check, once
    more if the connection was dead.

    With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before a request's first query, so that a
    connection the database dropped costs no failed request. An agent call instead lets its first
    statement find out: a dead connection fails before anything is written, and the call runs again
    on a new one (if the database itself is down, that fails too and the agent gets a 503).
    """
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: ``connection`` looks it up on every use
    reused = db.connection is not None
    db.health_check_done = True  # Django's flag: this request's check is done
    try:
        return call()
    except (OperationalError, InterfaceError):
        if not reused or db.is_usable():  # a fresh connection, or another error (a deadlock...)
            raise
        logger.info("database connection lost; trying the agent call once more on a new one")
        _close_broken_connection()
        return call()


def agent_endpoint(service):
    """An agent call: POST only, parsed and rate-limited, answered with a signed verdict."""

    @csrf_exempt
    @json_errors
    def view(request):
        if request.method != "POST":
            return _error(request, 405, "METHOD_NOT_ALLOWED", gettext_noop("Use POST."), {"Allow": "POST"})
        language = requested_language(request)  # None without the header: English, nothing to do
        data = _parse_request(request)
        key, fingerprint, nonce, machine_name = _fields(data)
        digest, route = keyformat.key_digest(key), keyformat.key_route(key)
        prefetch = _rate_check(request, digest, route, fingerprint.uid)
        outcome = on_a_live_connection(
            lambda: service(key=key, fingerprint=fingerprint, machine_name=machine_name, prefetch=prefetch)
        )
        if outcome.license_key is None and route is not None:
            _count_guess(request)
        body = _verdict_body(outcome, fingerprint.uid, nonce, digest)
        if language == GERMAN:
            verdict_in_german(body, outcome)  # before signing: the signature covers the German text
        return mark_language(signed_json(body), language)

    return view


activate = agent_endpoint(
    lambda *, key, fingerprint, machine_name, prefetch: license_activate(
        key_text=key, uid=fingerprint.uid, fingerprint=fingerprint, machine_name=machine_name, prefetch=prefetch
    )
)
validate = agent_endpoint(
    lambda *, key, fingerprint, machine_name, prefetch: license_validate(
        key_text=key, uid=fingerprint.uid, fingerprint=fingerprint, prefetch=prefetch
    )
)
deactivate = agent_endpoint(  # under locks: the cache has nothing to offer it
    lambda *, key, fingerprint, machine_name, prefetch: license_deactivate(
        key_text=key, uid=fingerprint.uid, fingerprint=fingerprint
    )
)


def _public_get(builder, max_age: int):
    @csrf_exempt
    @json_errors
    def view(request):
        if request.method not in ("GET", "HEAD"):
            return _error(request, 405, "METHOD_NOT_ALLOWED", _USE_GET, {"Allow": "GET, HEAD"})
        response = JsonResponse(builder(request))
        response["Cache-Control"] = f"public, max-age={max_age}"
        return response

    return view


jwks = _public_get(lambda request: signing.keyring().jwks(), 300)
openapi = _public_get(lambda request: openapi_document(request.build_absolute_uri("/")), 3600)


@csrf_exempt
@json_errors
def route_not_found(request, path=""):
    message = Message(gettext_noop("No API endpoint at %(path)s."), {"path": request.path})
    return _error(request, 404, "NOT_FOUND_ROUTE", message)


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


@csrf_exempt
@json_errors
def healthz(request):
    """Readiness: one trivial database query. It is itself a connection check, so Django's own
    (another ``SELECT 1`` first, on a kept connection) is skipped as on the agent calls; a connection
    the database dropped is replaced and the query run once more, so only a database that is down
    fails the probe. GET and HEAD only (TRACE and the rest answer 405)."""
    if request.method not in ("GET", "HEAD"):
        return _error(request, 405, "METHOD_NOT_ALLOWED", _USE_GET, {"Allow": "GET, HEAD"})
    on_a_live_connection(_select_one)
    response = JsonResponse({"status": "ok"})
    response["Cache-Control"] = "no-store"
    return response


__all__ = ["activate", "validate", "deactivate", "jwks", "openapi", "healthz", "route_not_found", "Code"]
