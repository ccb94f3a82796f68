from django.urls import path

from audit import views

urlpatterns = [
    path("organizations/<slug:slug>/audit/", views.organization_audit, name="organization_audit"),
    path("organizations/<slug:slug>/audit.csv", views.organization_audit_csv, name="organization_audit_csv"),
]
