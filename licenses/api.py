"""The agent API's views, where ``licensing_portal/urls.py`` and the middleware find them
(they live in ``licenses.agent_api.views``)."""

from licenses.agent_api.views import (  # noqa: F401
    activate,
    deactivate,
    error_response,
    healthz,
    jwks,
    openapi,
    route_not_found,
    validate,
)
