from django.urls import path

from environments import views

urlpatterns = [
    path("organizations/<slug:slug>/environments/add/", views.environment_add, name="environment_add"),
    path(
        "organizations/<slug:slug>/environments/<uuid:environment_uuid>/status/",
        views.environment_status,
        name="environment_status",
    ),
    path("organizations/<slug:slug>/machines/", views.machine_list, name="machine_list"),
    path("organizations/<slug:slug>/machines/claim/", views.machine_claim, name="machine_claim"),
    path("machine-claims/", views.machine_claims, name="machine_claims"),
    path("machine-claims/<int:claim_id>/", views.machine_claim_decide, name="machine_claim_decide"),
    path("organizations/<slug:slug>/machines/<str:uid>/detach/", views.machine_detach_view, name="machine_detach"),
    path("organizations/<slug:slug>/machines/<str:uid>/primary/", views.machine_primary, name="machine_primary"),
]
