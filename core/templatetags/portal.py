"""Template helpers of the portal's pages: times in UTC, time left, badges, the activations chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from core.time import rfc3339

register = template.Library()

BADGES = {
    "active": "ok",
    "enabled": "ok",
    "valid": "ok",
    "paid": "info",
    "trial": "warn",
    "free": "muted",
    "inactive": "warn",
    "disabled": "warn",
    "suspended": "danger",
    "lapsed": "danger",
    "expired": "muted",
    "revoked": "danger",
    "deleted": "muted",
}


@register.filter
def utc(value) -> str:
    """``2026-11-23 10:00 UTC`` in a <time> element, whatever the server's TIME_ZONE."""
    if not isinstance(value, datetime):
        return "—"
    moment = value.astimezone(UTC)
    return format_html(
        '<time datetime="{}">{} <abbr title="Coordinated Universal Time">UTC</abbr></time>',
        rfc3339(moment),
        moment.strftime("%Y-%m-%d %H:%M"),
    )


@register.filter
def utc_date(value) -> str:
    if not isinstance(value, datetime):
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d")


@register.filter
def time_left(value, now=None) -> str:
    """How long until ``value``: ``2 days 4 h``, ``3 h 12 min``, ``5 min``, or ``ended``."""
    if not isinstance(value, datetime):
        return "—"
    seconds = int((value - (now or timezone.now())).total_seconds())
    if seconds <= 0:
        return "ended"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{max(minutes, 1)} min"


@register.simple_tag
def badge(label, kind: str = "") -> str:
    """A coloured status label; its colour follows its text unless ``kind`` says otherwise."""
    text = str(label)
    return format_html('<span class="badge badge-{}">{}</span>', kind or BADGES.get(text.lower(), "muted"), text)


@register.filter
def short_id(value) -> str:
    return str(value)[:8]


@register.inclusion_tag("activations_chart.html")
def activations_chart(points):
    """A bar chart of (day, count) pairs, drawn as inline SVG (no script, no style attributes)."""
    width, height, top, bottom, left = 640, 190, 16, 34, 40
    plot_height = height - top - bottom
    highest = max((count for _, count in points), default=0)
    scale_max = max(highest, 1)
    slot = (width - left) / max(len(points), 1)
    bars = []
    for index, (day, count) in enumerate(points):
        bar_height = round(plot_height * count / scale_max, 1) if count else 0
        x = round(left + index * slot + slot * 0.15, 1)
        bars.append(
            {
                "x": x,
                "y": round(top + plot_height - bar_height, 1),
                "width": round(slot * 0.7, 1),
                "height": bar_height,
                "day": day,
                "count": count,
                "label_x": round(x + slot * 0.35, 1),
                "show_label": index % 5 == 0 or index == len(points) - 1,
            }
        )
    return {
        "bars": bars,
        "width": width,
        "height": height,
        "baseline": top + plot_height,
        "label_y": height - 10,
        "left": left,
        "top": top,
        "highest": highest,
        "total": sum(count for _, count in points),
        "points": points,
    }


@register.filter
def key_ends(license_key) -> str:
    """When a key stops working, as the user chose it: a server key "valid through" its day, a
    revoked key "—" (it works until nothing), any other key its end in UTC."""
    if license_key.status == "revoked":
        return mark_safe('<span class="muted">— (revoked)</span>')
    ends = license_key.effective_expires_at
    if license_key.kind == "server" and isinstance(ends, datetime):
        day = (ends.astimezone(UTC) - timedelta(days=1)).date()
        return format_html('valid through <time datetime="{}">{}</time>', day.isoformat(), day.isoformat())
    return utc(ends)


@register.filter
def bound_to(license_key) -> str:
    """The machine a key is bound to; a revoked key is bound to nothing (and is not "free")."""
    if license_key.status == "revoked":
        return mark_safe('<span class="muted">—</span>')
    if license_key.machine_id:
        return format_html('<span title="{}">{}</span>', license_key.machine.uid, license_key.machine)
    if license_key.kind == "temporary":
        return "any registered machine"
    return mark_safe('<span class="muted">free</span>')


@register.filter
def person(user) -> str:
    """A user as others know them: the e-mail address, else the username."""
    if user is None:
        return "—"
    return user.email or user.get_username()


@register.filter
def state(license_key, now=None) -> str:
    """A key's status for lists: Active, Inactive, Revoked or Expired."""
    return license_key.state_label(now or timezone.now())


@register.simple_tag(takes_context=True)
def sort_header(context, key: str, label: str) -> str:
    """A column heading that sorts its list by ``key`` (again: the other way), keeping the filters."""
    from urllib.parse import urlencode

    request = context["request"]
    sorting = context.get("sorting")
    current = sorting is not None and sorting.key == key
    descending = current and sorting.descending
    query = {name: value for name, value in request.GET.items() if name not in ("sort", "page") and value}
    query["sort"] = key if descending or not current else "-" + key
    if current:
        arrow, state = ("↓", "descending") if descending else ("↑", "ascending")
        return format_html(
            '<a class="sort sort-current" href="?{}" aria-label="{}, sorted {}">'
            '{} <span aria-hidden="true">{}</span></a>',
            urlencode(query),
            label,
            state,
            label,
            arrow,
        )
    return format_html('<a class="sort" href="?{}">{}</a>', urlencode(query), label)


@register.filter
def pretty_json(value) -> str:
    import json

    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


@register.filter
def get_item(mapping, key):
    return mapping.get(key, "")
