"""What the HTML pages share: pagination without COUNT, service errors shown on forms, secret responses.

Lists page through at most ``PER_PAGE`` rows with one query (``LIMIT n + 1`` tells whether there is
a next page), so a list of a million keys opens as fast as a list of ten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

PER_PAGE = 50
MAX_PAGE = 10_000
COUNT_CAP = 10_000  # a list's total is counted up to here ("10,000+"): an index scan of at most this many rows


@dataclass
class Page:
    """One page of a list: its rows, its number, and links to its neighbours (query string kept)."""

    rows: list
    number: int
    has_next: bool
    query: dict

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def start_index(self) -> int:
        return (self.number - 1) * PER_PAGE + 1 if self.rows else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * PER_PAGE + len(self.rows)

    def _url(self, number: int) -> str:
        return "?" + urlencode({**self.query, "page": number})

    @property
    def next_url(self) -> str:
        return self._url(self.number + 1)

    @property
    def previous_url(self) -> str:
        return self._url(self.number - 1)


def page_of(queryset, request, *, per_page: int = PER_PAGE, param: str = "page") -> Page:
    """The requested page of an ordered queryset, fetched in one query."""
    try:
        number = int(request.GET.get(param, 1))
    except (TypeError, ValueError):
        number = 1
    number = min(max(number, 1), MAX_PAGE)
    offset = (number - 1) * per_page
    rows = list(queryset[offset : offset + per_page + 1])
    query = {name: value for name, value in request.GET.items() if name != param and value}
    return Page(rows=rows[:per_page], number=number, has_next=len(rows) > per_page, query=query)


@dataclass
class Total:
    """How many rows a list has, as shown above it: ``1,234``, or ``10,000+`` past the cap."""

    count: int
    capped: bool

    def __str__(self) -> str:
        from django.utils.formats import number_format

        shown = number_format(self.count, force_grouping=True)  # 1,234 in English, 1.234 in German
        return f"{shown}+" if self.capped else shown


def bounded_total(queryset, cap: int = COUNT_CAP) -> Total:
    """Count a list's rows, at most ``cap`` of them (counting all of a million would be slow)."""
    count = queryset.order_by()[: cap + 1].count()
    return Total(count=min(count, cap), capped=count > cap)


@dataclass
class Sorting:
    """A list's order, from ``?sort=name`` or ``?sort=-name`` among the columns it offers."""

    key: str
    descending: bool
    ordering: list[str]

    @property
    def param(self) -> str:
        return ("-" if self.descending else "") + self.key


def sorting_of(request, columns: dict[str, list[str]], default: str) -> Sorting:
    """``columns`` maps a sort key to its ORDER BY fields (ascending, a unique tie-break last);
    an unknown key gives ``default``."""
    wanted = request.GET.get("sort") or default
    descending = wanted.startswith("-")
    key = wanted.lstrip("-")
    if key not in columns:
        descending, key = default.startswith("-"), default.lstrip("-")
    fields = columns[key]
    if descending:
        fields = [field[1:] if field.startswith("-") else "-" + field for field in fields]
    return Sorting(key=key, descending=descending, ordering=fields)


def uuid_prefix(text: str) -> str | None:
    """What a list's search box typed as the start of a UUID (``7c1e0a2b3``, ``7C1E0A2B-3``), as a
    UUID's text begins (``7c1e0a2b-3``), for ``__startswith``; None if it cannot be one."""
    hex_text = text.strip().lower().replace("-", "")
    if not 4 <= len(hex_text) <= 32 or any(character not in "0123456789abcdef" for character in hex_text):
        return None
    prefix, position = "", 0
    for length in (8, 4, 4, 4, 12):
        part = hex_text[position : position + length]
        if not part:
            break
        prefix += ("-" if prefix else "") + part
        position += length
    return prefix


def form_add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError next to the fields it names (else at the top of the form)."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


def secret_response(request, template: str, context: dict) -> TemplateResponse:
    """A page that shows a key or an activation code: never cached, never stored by the browser."""
    response = TemplateResponse(request, template, context)
    response["Cache-Control"] = "no-store, private"
    response["Pragma"] = "no-cache"
    return response


def start_of_day_utc(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class UTCDateTimeField(forms.DateTimeField):
    """A date and time typed in UTC (``<input type="datetime-local">``), whatever TIME_ZONE says."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": "60"}, format="%Y-%m-%dT%H:%M")

    def to_python(self, value):
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
            try:
                parsed = datetime.fromisoformat(value.replace(" ", "T"))
            except ValueError:
                raise ValidationError(self.error_messages["invalid"], code="invalid") from None
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        return super().to_python(value)

    def prepare_value(self, value):
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return super().prepare_value(value)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")
