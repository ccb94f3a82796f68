"""The portal's short date and time formats in English: ISO 8601 (2027-01-15, 2027-01-15 10:00)."""

SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
