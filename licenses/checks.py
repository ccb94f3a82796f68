"""Start-up checks: fail fast with a clear message on unusable secrets."""

from __future__ import annotations

from django.core.checks import Error, register


def secrets_validate() -> None:
    """Load the signing keyring and the encryption keys, raising ImproperlyConfigured if unusable."""
    from licenses import encryption, signing

    encryption.validate_configuration()
    signing.keyring()


@register()
def secrets_check(app_configs, **kwargs):
    from django.core.exceptions import ImproperlyConfigured

    try:
        secrets_validate()
    except ImproperlyConfigured as error:
        return [Error(str(error), id="licensing_portal.E001")]
    return []
