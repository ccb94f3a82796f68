"""Template helpers of the portal's pages: times in UTC, time left, badges, the activations chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django import template
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

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
# The same states as the pages show them (models' labels), so a translated label keeps its colour.
_BADGE_LABELS = {
    gettext_noop("Active"): "ok",
    gettext_noop("Enabled"): "ok",
    gettext_noop("Valid"): "ok",
    gettext_noop("Paid"): "info",
    gettext_noop("Trial"): "warn",
    gettext_noop("Free"): "muted",
    gettext_noop("Inactive"): "warn",
    gettext_noop("Disabled"): "warn",
    gettext_noop("Suspended"): "danger",
    gettext_noop("Lapsed"): "danger",
    gettext_noop("Expired"): "muted",
    gettext_noop("Revoked"): "danger",
    gettext_noop("Deleted"): "muted",
}


@register.filter
def utc(value) -> str:
    """``2026-11-23 10:00 UTC`` in a <time> element, whatever the server's TIME_ZONE."""
    if not isinstance(value, datetime):
        return "—"
    moment = value.astimezone(UTC)
    return format_html(
        '<time datetime="{}">{} <abbr title="{}">UTC</abbr></time>',
        rfc3339(moment),
        formats.date_format(moment, "SHORT_DATETIME_FORMAT"),
        _("Coordinated Universal Time"),
    )


@register.filter
def utc_date(value) -> str:
    if not isinstance(value, datetime):
        return "—"
    return formats.date_format(value.astimezone(UTC), "SHORT_DATE_FORMAT")


@register.filter
def time_left(value, now=None) -> str:
    """How long until ``value``: ``2 days 4 h``, ``3 h 12 min``, ``5 min``, or ``ended``."""
    if not isinstance(value, datetime):
        return "—"
    seconds = int((value - (now or timezone.now())).total_seconds())
    if seconds <= 0:
        return _("ended")
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return ngettext("%(days)d day %(hours)d h", "%(days)d days %(hours)d h", days) % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
    return _("%(minutes)d min") % {"minutes": max(minutes, 1)}


@register.simple_tag
def badge(label, kind: str = "") -> str:
    """A coloured status label; its colour follows its text unless ``kind`` says otherwise."""
    text = str(label)
    if not kind:
        kind = BADGES.get(text.lower()) or {_(word): colour for word, colour in _BADGE_LABELS.items()}.get(
            text, "muted"
        )
    return format_html('<span class="badge badge-{}">{}</span>', kind, text)


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
        return format_html('<span class="muted">— ({})</span>', _("revoked"))
    ends = license_key.effective_expires_at
    if license_key.kind == "server" and isinstance(ends, datetime):
        day = (ends.astimezone(UTC) - timedelta(days=1)).date()
        return format_html(
            '{} <time datetime="{}">{}</time>',
            _("valid through"),
            day.isoformat(),
            formats.date_format(day, "SHORT_DATE_FORMAT"),
        )
    return utc(ends)


@register.filter
def bound_to(license_key) -> str:
    """The machine a key is bound to; a revoked key is bound to nothing (and is not "free")."""
    if license_key.status == "revoked":
        return mark_safe('<span class="muted">—</span>')
    if license_key.machine_id:
        return format_html('<span title="{}">{}</span>', license_key.machine.uid, license_key.machine)
    if license_key.kind == "temporary":
        return _("any registered machine")
    return format_html('<span class="muted">{}</span>', _("free"))


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
        arrow, state = ("↓", _("sorted descending")) if descending else ("↑", _("sorted ascending"))
        return format_html(
            '<a class="sort sort-current" href="?{}" aria-label="{}, {}">{} <span aria-hidden="true">{}</span></a>',
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
