"""The job worker's settings in test_worker.py's self-recovery test: the portal's own, with short
periods so that a killed worker is noticed in seconds (heartbeat every 0.5 s, dead after 2 s without
one, the stalled-job retry every second). The webhook time-out (the claim's lease) comes from the
environment (WEBHOOK_TIMEOUT_SECONDS)."""

from licensing_portal.settings import *  # noqa: F403

PROCRASTINATE_WORKER_DEFAULTS = {"update_heartbeat_interval": 0.5, "stalled_worker_timeout": 2.0}
JOB_STALLED_RETRY_CRON = "* * * * * */1"  # croniter's sixth field: seconds
