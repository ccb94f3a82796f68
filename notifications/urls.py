from django.urls import path

from notifications import views

urlpatterns = [
    path("webhooks/", views.webhook_list, name="vendor_webhooks"),
    path("webhooks/new/", views.webhook_create, name="vendor_webhook_create"),
    path("webhooks/<uuid:endpoint_id>/", views.webhook_detail, name="webhook_detail"),
    path("webhooks/<uuid:endpoint_id>/edit/", views.webhook_edit, name="webhook_edit"),
    path("webhooks/<uuid:endpoint_id>/delete/", views.webhook_delete, name="webhook_delete"),
    path(
        "webhooks/deliveries/<int:delivery_id>/resend/", views.webhook_delivery_resend, name="webhook_delivery_resend"
    ),
    path("organizations/<slug:slug>/webhooks/", views.webhook_list, name="organization_webhooks"),
    path("organizations/<slug:slug>/webhooks/new/", views.webhook_create, name="organization_webhook_create"),
]
