# Copyright: (c) 2026, exchange.hybrid contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The small value helpers every part of the collection shares."""

from __future__ import annotations

import datetime as dt

import pytest

from ansible_collections.exchange.hybrid.plugins.module_utils import _values
from ansible_collections.exchange.hybrid.plugins.module_utils._errors import ExchangeInputError

THUMB = "0123456789ABCDEF0123456789ABCDEF01234567"


def test_utc_round_trip():
    moment = _values.parse_utc("2026-11-27T13:00:00+01:00")
    assert moment == dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)
    assert _values.format_utc(moment) == "2026-11-27T12:00:00Z"
    assert _values.parse_utc("2026-11-27T12:00:00Z") == moment
    assert _values.format_utc(dt.datetime(2026, 11, 27, 12, 0)) == "2026-11-27T12:00:00Z"  # naive is UTC
    assert _values.parse_utc("2026-11-27T12:00:00") == moment
    assert _values.parse_utc("") is None and _values.parse_utc("yesterday") is None


def test_thumbprints_compare_in_one_form():
    assert _values.normalize_thumbprint(" 01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67\u200e") == THUMB
    with pytest.raises(ExchangeInputError, match="40 hexadecimal"):
        _values.normalize_thumbprint("0123", option="certificate_thumbprint")
    assert _values.is_thumbprint(THUMB.lower()) and not _values.is_thumbprint(THUMB + "0")
    assert _values.thumbprint_key(THUMB.lower()) == THUMB and _values.thumbprint_key("") is None
    assert _values.same_thumbprint(THUMB.lower(), THUMB)
    assert not _values.same_thumbprint(None, None) and not _values.same_thumbprint(THUMB, THUMB[:-1] + "8")


def test_guid():
    guid = "6a4b3c2d-1e0f-4a5b-8c7d-9e8f7a6b5c4d"
    assert _values.is_guid(guid) and _values.is_guid(guid.upper())
    assert not _values.is_guid("{%s}" % guid) and not _values.is_guid(guid[:-1]) and not _values.is_guid(None)
    assert _values.GUID.search("https://login.microsoftonline.com/%s/v2.0" % guid).group(0) == guid
