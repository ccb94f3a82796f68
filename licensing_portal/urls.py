"""The portal's routes: the agent API under /api/v1/, the pages, and /admin/ for super-admins."""

from django.urls import include, path, re_path

from core.admin import admin_site
from integrations.api import api as management_api
from integrations.api import route_not_found as management_route_not_found
from licenses.agent_api import views as api
from notifications.api import router as webhooks_router

management_api.add_router("", webhooks_router)

api_patterns = [
    path("api/manage/v1/", management_api.urls),
    re_path(r"^api/manage/v1/(?P<path>.*)$", management_route_not_found),
    path("api/v1/activate", api.activate, name="api_activate"),
    path("api/v1/validate", api.validate, name="api_validate"),
    path("api/v1/deactivate", api.deactivate, name="api_deactivate"),
    path("api/v1/jwks", api.jwks, name="api_jwks"),
    path("api/v1/openapi.json", api.openapi, name="api_openapi"),
    path(".well-known/jwks.json", api.jwks, name="well_known_jwks"),
    path("healthz", api.healthz, name="healthz"),
    re_path(r"^api/(?P<path>.*)$", api.route_not_found),
]

urlpatterns = [
    *api_patterns,
    path("admin/", admin_site.urls),
    path("", include("accounts.urls")),
    path("", include("organizations.urls")),
    path("", include("environments.urls")),
    path("", include("licenses.urls")),
    path("", include("audit.urls")),
    path("", include("integrations.urls")),
    path("", include("notifications.urls")),
]

# Outside /api/ the error pages are HTML (templates/404.html, 500.html); the API answers JSON itself.
handler403 = "organizations.views.permission_denied"
handler404 = "core.errors.not_found"
handler500 = "core.errors.server_error"
