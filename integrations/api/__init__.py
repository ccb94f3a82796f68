"""The management API, version 1 (MANAGEMENT_API.md), mounted at ``/api/manage/v1/``."""

from __future__ import annotations

from django.conf import settings
from ninja import NinjaAPI
from ninja.openapi.docs import Swagger

from integrations.api import audit, errors, keys, machines, organizations
from integrations.api.auth import BearerToken

# The interactive docs page (swagger-ui from the portal's static files): swagger-ui sets inline
# styles, which the portal's policy otherwise refuses; scripts stay 'self' only.
DOCS_POLICY = settings.CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


def _docs_policy(view):
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_POLICY
        return response

    return wrapper


IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "Retrying with the same key and body within 24 hours answers the first response again "
    "without acting twice; another body with the same key gets 422 IDEMPOTENCY_MISMATCH.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


class ManagementAPI(NinjaAPI):
    """django-ninja's API with the document's operation ids named after the views
    (``organization_list``) and the Idempotency-Key header on every POST."""

    def get_openapi_operation_id(self, operation) -> str:
        return operation.view_func.__name__.removesuffix("_endpoint")

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        for methods in schema["paths"].values():
            if "post" in methods:
                methods["post"].setdefault("parameters", []).append(IDEMPOTENCY_KEY)
        return schema


api = ManagementAPI(
    title="Licensing portal management API",
    version="1",
    description="For the vendor's systems and customers' automation: see docs/MANAGEMENT_API.md.",
    urls_namespace="manage_api",
    auth=BearerToken(),
    openapi_url="/openapi.json",
    docs=Swagger(settings={"persistAuthorization": False}),
    docs_url="/docs",
    docs_decorator=_docs_policy,
)
errors.install(api)
api.add_router("", organizations.router)
api.add_router("", machines.router)
api.add_router("", keys.router)
api.add_router("", audit.router)


def route_not_found(request, path: str = ""):
    """Any other path under /api/manage/v1/."""
    return errors.error_answer(404, f"No API endpoint at {request.path}.")
