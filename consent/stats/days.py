"""Which day a moment falls on for a site: statistics count days in the site's time zone.

A site names its zone (`time_zone`, IANA, e.g. "Asia/Shanghai"); without one, the zone of its jurisdiction
where it has one zone, else UTC.
"""
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# Jurisdictions with one time zone for the whole country, and that zone.
JURISDICTION_ZONES = {"CN": "Asia/Shanghai", "HK": "Asia/Hong_Kong", "MO": "Asia/Macau", "TW": "Asia/Taipei",
                      "SG": "Asia/Singapore", "JP": "Asia/Tokyo", "KR": "Asia/Seoul", "DE": "Europe/Berlin",
                      "FR": "Europe/Paris", "GB": "Europe/London", "IE": "Europe/Dublin", "NL": "Europe/Amsterdam"}


def zone_name(site):
    """The IANA name of the zone the site's days are counted in."""
    return site.time_zone or JURISDICTION_ZONES.get(site.jurisdiction, "UTC")


def is_zone(name):
    """Whether `name` is an IANA time zone this machine knows."""
    if not isinstance(name, str) or name not in available_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def day_of(moment, zone):
    """The calendar day of an aware datetime `moment` in the zone named `zone`."""
    return moment.astimezone(ZoneInfo(zone)).date()
