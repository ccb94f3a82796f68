from django.urls import path

from organizations import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("organizations/", views.organization_list, name="organization_list"),
    path("organizations/new/", views.organization_create_view, name="organization_create"),
    path("organizations/<slug:slug>/", views.organization_detail, name="organization_detail"),
    path("organizations/<slug:slug>/edit/", views.organization_edit, name="organization_edit"),
    path("organizations/<slug:slug>/status/", views.organization_status, name="organization_status"),
    path("organizations/<slug:slug>/renew/", views.organization_renew, name="organization_renew"),
]
