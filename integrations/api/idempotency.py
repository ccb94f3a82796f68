"""``Idempotency-Key`` on POSTs: the first successful answer to a token's key is kept for 24 hours
and answered again to the same request; the same key with another request is refused (422).

The action and the kept answer commit in one transaction, so two requests racing with one key act
once: the second waits on the first's row (unique per token and key), then replays its answer.
Answers that are errors are not kept (a retry is checked again). A secret in an answer (a key's
text) is not kept either: ``restore`` puts it back from where its service keeps it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from ninja import Status

from integrations.api.errors import APIError
from integrations.models import IdempotentAnswer

LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def _request_digest(request) -> str:
    body = request.body
    try:  # the same JSON written otherwise (spacing, key order) is the same request
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        pass
    return hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n" + body).hexdigest()


def _replay(answer: IdempotentAnswer, digest: str, restore):
    if answer.request_digest != digest:
        raise APIError(
            422, "This Idempotency-Key was used with another request in the last 24 hours.", code="IDEMPOTENCY_MISMATCH"
        )
    body = json.loads(bytes(answer.body))
    return Status(answer.status, restore(body) if restore else body)


def idempotent(status: int = 200, *, secret_fields: tuple[str, ...] = (), restore=None):
    """Wrap a POST operation that returns its answer's body; it then answers ``Status(status, body)``."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            key = request.headers.get("Idempotency-Key")
            if key is None:
                return Status(status, view(request, *args, **kwargs))
            if not 1 <= len(key) <= MAX_KEY_LENGTH:
                raise APIError(
                    400,
                    "Idempotency-Key has 1 to 255 characters.",
                    fields={"Idempotency-Key": ["1 to 255 characters."]},
                )
            token = request.auth.token
            digest = _request_digest(request)
            IdempotentAnswer.objects.filter(token=token, key=key, created_at__lt=timezone.now() - LIFETIME).delete()
            kept = IdempotentAnswer.objects.filter(token=token, key=key).first()
            if kept is not None:
                return _replay(kept, digest, restore)
            try:
                with transaction.atomic():
                    body = view(request, *args, **kwargs)
                    stored = {name: value for name, value in body.items() if name not in secret_fields}
                    IdempotentAnswer.objects.create(
                        token=token,
                        key=key,
                        request_digest=digest,
                        status=status,
                        body=json.dumps(stored, cls=DjangoJSONEncoder).encode(),
                    )
            except IntegrityError:  # another request with this key committed first: its answer stands
                kept = IdempotentAnswer.objects.filter(token=token, key=key).first()
                if kept is None:
                    raise
                return _replay(kept, digest, restore)
            return Status(status, body)

        return wrapper

    return decorator
