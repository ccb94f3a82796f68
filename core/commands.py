"""The base of the operators' commands (ADMIN_COMMANDS.md): one JSON line out, clear errors."""

from __future__ import annotations

import json

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.management.base import BaseCommand, CommandError


def validation_message(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
    return " ".join(error.messages)


class JSONCommand(BaseCommand):
    """Subclasses implement ``run(**options) -> dict``; bad input becomes CommandError (exit 1)."""

    def handle(self, *args, **options):
        try:
            result = self.run(**options)
        except ValidationError as error:
            raise CommandError(validation_message(error)) from None
        except ObjectDoesNotExist as error:
            raise CommandError(str(error) or "Not found.") from None
        self.stdout.write(json.dumps(result, separators=(",", ":")))

    def run(self, **options) -> dict:
        raise NotImplementedError
