from django.urls import path

from licenses import views

urlpatterns = [
    path("organizations/<slug:slug>/licenses/", views.license_list, name="license_list"),
    path("organizations/<slug:slug>/licenses/issue/", views.machine_key_issue, name="machine_key_issue"),
    path("organizations/<slug:slug>/temporary-keys/", views.temporary_key_list, name="temporary_key_list"),
    path(
        "organizations/<slug:slug>/temporary-keys/generate/",
        views.temporary_key_generate,
        name="temporary_key_generate",
    ),
    path("organizations/<slug:slug>/server-keys/", views.server_key_list, name="server_key_list"),
    path("organizations/<slug:slug>/server-keys/generate/", views.server_key_generate, name="server_key_generate"),
    path("organizations/<slug:slug>/server-keys/delete/", views.server_key_delete, name="server_key_delete"),
    path("organizations/<slug:slug>/trial/", views.trial_key, name="trial_key"),
    path("organizations/<slug:slug>/trial/grant/", views.stopgap_grant_view, name="stopgap_grant"),
    path("keys/<uuid:public_id>/", views.license_detail, name="license_detail"),
    path("keys/<uuid:public_id>/revoke/", views.license_revoke_view, name="license_revoke"),
    path("keys/<uuid:public_id>/reveal/", views.license_reveal_view, name="license_reveal"),
    path("keys/<uuid:public_id>/edit/", views.server_key_edit, name="server_key_edit"),
    path("activate/", views.manual_activation, name="manual_activation"),
]
