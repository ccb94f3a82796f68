"""The page tests' world (two organizations, a user of every role, a key of every kind) serves here too."""

from tests.views.conftest import _fresh_rate_limits, fast_passwords, world  # noqa: F401
