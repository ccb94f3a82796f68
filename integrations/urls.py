from django.urls import path

from integrations import views

urlpatterns = [
    path("api-tokens/", views.vendor_api_tokens, name="vendor_api_tokens"),
    path("api-tokens/<int:token_id>/revoke/", views.api_token_revoke_view, name="api_token_revoke"),
    path("organizations/<slug:slug>/api-tokens/", views.organization_api_tokens, name="organization_api_tokens"),
]
