"""Verdict-cache renewals that Redis has not confirmed yet (``licenses/agent_api/state_cache.py``).

Every change that makes an organization's cached rows stale writes one of these rows in its own
transaction; the change's process deletes it once Redis has the organization's new generation. A
row that stays (Redis was out of reach, or the process died first) tells every worker to renew that
generation itself and, until one of them succeeds, to answer that organization from the database:
a committed change is never answered from rows cached before it.
"""

from __future__ import annotations

from django.db import models


class PendingCacheRenewal(models.Model):
    organization_uuid = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "licenses"

    def __str__(self) -> str:
        return f"renew {self.organization_uuid}"
