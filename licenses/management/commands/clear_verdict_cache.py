from django.core.management.base import CommandError

from audit.services import audit_record
from core.commands import JSONCommand
from licenses.agent_api import state_cache


class Command(JSONCommand):
    help = (
        "Make every key's cached verdict rows stale (run it after changing the database by hand); "
        "the agent API reads each key from PostgreSQL again on its next call."
    )

    def run(self, **options):
        if not state_cache.is_on():
            return {
                "cleared": False,
                "detail": "the verdict cache is off (no REDIS_URL, or LICENSE_STATE_CACHE_SECONDS=0)",
            }
        if not state_cache.clear():
            raise CommandError("Redis is unreachable: the cache was not cleared.")
        audit_record(actor=None, action="verdict_cache.clear", object_type="verdict_cache")
        return {"cleared": True}
