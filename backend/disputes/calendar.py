"""The tenant's working calendar: business days are the weekdays of its country that are no public
holiday (and the weekend days its country makes working days, as China does around its holidays),
from the `holidays` library; a deadline counted in business days falls at the end of that local day.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays


@functools.cache
def _country_calendar(country: str) -> holidays.HolidayBase | None:
    """The country's public holidays (years are added as they are asked for); None for a country the
    library does not know, which then counts weekends only."""
    try:
        return holidays.country_holidays(country)
    except NotImplementedError:
        return None


@functools.cache
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class Calendar:
    country: str
    time_zone: str

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.time_zone)

    def is_business_day(self, day: date) -> bool:
        calendar = _country_calendar((self.country or "").upper())
        if calendar is None:
            return day.weekday() < 5
        return calendar.is_working_day(day)

    def add_business_days(self, day: date, count: int) -> date:
        """The `count`-th business day after `day` (`day` itself not counted)."""
        while count > 0:
            day += timedelta(days=1)
            if self.is_business_day(day):
                count -= 1
        return day

    def subtract_business_days(self, day: date, count: int) -> date:
        """The `count`-th business day before `day`."""
        while count > 0:
            day -= timedelta(days=1)
            if self.is_business_day(day):
                count -= 1
        return day

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def start_of(self, day: date, hour: int = 0) -> datetime:
        """`hour` o'clock on `day` in the tenant's time zone, in UTC."""
        return datetime.combine(day, time(hour), tzinfo=self.zone).astimezone(UTC)

    def end_of(self, day: date) -> datetime:
        """The end of `day` in the tenant's time zone (the next local midnight), in UTC."""
        return self.start_of(day + timedelta(days=1))

    def business_deadline(self, since: date, count: int) -> datetime:
        """The end of the `count`-th business day after `since`."""
        return self.end_of(self.add_business_days(since, count))
