from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People: invitations, two-factor sign-in, single sign-on"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from accounts.two_factor import remember_second_factor

        # Every sign-in (password, single sign-on, a test client's force_login) notes in the session
        # whether the user has a second factor, so the middleware need not ask on every request.
        user_logged_in.connect(remember_second_factor, dispatch_uid="accounts.remember_second_factor")
