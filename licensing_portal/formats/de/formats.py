"""The portal's short date and time formats in German (15.01.2027, 15.01.2027 10:00)."""

SHORT_DATE_FORMAT = "d.m.Y"
SHORT_DATETIME_FORMAT = "d.m.Y H:i"
