"""The dashboard pages through Django's test client: the role that may does it, the roles that may not
change nothing."""

from __future__ import annotations

import re

from django.utils import timezone

from organizations.models import Organization


def test_dashboard_numbers_and_chart(world):
    html = world.client("super_admin").get("/").content.decode()
    assert "<svg" in html and "Activations per day" in html
    assert "1 activation" in html  # the agent's activation, today
    stat = r'data-testid="stat-organizations">\s*<span class="stat-label">Organizations</span>\s*'
    assert re.search(stat + r'<a class="stat-value" href="/organizations/">2<', html)
    admin_html = world.client("org_admin").get("/").content.decode()
    assert re.search(r'<a class="stat-value" href="/organizations/acme/">1<', admin_html)
    assert "Globex" not in admin_html


def test_dashboard_counts_keys_expiring_within_30_days(world):
    from licenses.selectors import dashboard_numbers

    now = timezone.now()
    numbers = dashboard_numbers(Organization.objects.all(), now, everything=True)
    # The temporary key (4 hours) expires soon; the trial key (30 days) too; server key (90 days) not.
    assert numbers.expiring_soon == 2
    assert numbers.active_keys == {
        "Machine key": 2,
        "Temporary key": 1,
        "Server access key": 1,
        "Trial key": 1,
        "Free-edition key": 0,
    }
    assert sum(count for _, count in numbers.activations_per_day) == 1
