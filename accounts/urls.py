"""Signing in (password, second factor, single sign-on), invitations, and the people pages."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import signin, sso
from accounts.views import language, people, second_factor, single_sign_on

urlpatterns = [
    path("i18n/setlang/", language.language_set, name="set_language"),
    path("accounts/login/", signin.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_reset/", signin.LimitedPasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        signin.UnlockingPasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("accounts/two-factor/", second_factor.second_factor_status, name="second_factor"),
    path("accounts/two-factor/enrol/", second_factor.second_factor_enrol, name="second_factor_enrol"),
    path("accounts/two-factor/verify/", second_factor.second_factor_verify_view, name="second_factor_verify"),
    path("accounts/two-factor/recovery-codes/", second_factor.recovery_codes_renew, name="recovery_codes_renew"),
    path("accounts/invitation/<str:token>/", people.invitation_accept_view, name="invitation_accept"),
    path("accounts/sso/", single_sign_on.sso_choose, name="sso_choose"),
    path("accounts/sso/callback/", sso.SsoCallbackView.as_view(), name="sso_callback"),
    path("accounts/sso/<slug:key>/", sso.SsoStartView.as_view(), name="sso_start"),
    path("people/", people.user_list, name="user_list"),
    path("people/invite/", people.invitation_create_view, name="invitation_create"),
    path("people/invitations/<uuid:invitation_uuid>/resend/", people.invitation_resend_view, name="invitation_resend"),
    path("people/invitations/<uuid:invitation_uuid>/cancel/", people.invitation_cancel_view, name="invitation_cancel"),
    path("people/single-sign-on/", single_sign_on.sso_settings, name="sso_settings"),
    path("people/single-sign-on/<slug:key>/", single_sign_on.sso_edit, name="sso_edit"),
    path("people/<int:pk>/", people.user_detail, name="user_detail"),
    path("people/<int:pk>/role/", people.user_role_view, name="user_role"),
    path("people/<int:pk>/active/", people.user_active_view, name="user_active"),
    path("people/<int:pk>/temporary-key/", people.user_temporary_key, name="user_temporary_key"),
    path("people/<int:pk>/second-factor-reset/", people.user_second_factor_reset_view, name="user_second_factor_reset"),
]
