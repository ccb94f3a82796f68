"""Where an audit event learns its request id and client address."""

from __future__ import annotations

import contextlib
import contextvars

_request_id = contextvars.ContextVar("request_id", default="")
_ip = contextvars.ContextVar("ip", default="")


@contextlib.contextmanager
def request_context(*, request_id: str, ip: str):
    tokens = (_request_id.set(request_id), _ip.set(ip))
    try:
        yield
    finally:
        _request_id.reset(tokens[0])
        _ip.reset(tokens[1])


def current_request_id() -> str:
    return _request_id.get()


def current_ip() -> str:
    return _ip.get()
