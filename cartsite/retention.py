"""The one rule every retention run shares: how many days of data it must keep."""

from django.conf import settings

from cartsite.errors import ValidationFailed


def retention_days_check(days: int) -> None:
    """Refuses a retention outside 1..RETENTION_DAYS_MAX days: zero or fewer would delete
    everything up to now (or later), more than a century is no date a row can be older than."""
    if not 1 <= days <= settings.RETENTION_DAYS_MAX:
        raise ValidationFailed(
            f"days must be between 1 and {settings.RETENTION_DAYS_MAX}", field="days", reason="Out of range"
        )
