"""The audit's HTML report in a real browser (headless Chromium): the summary numbers on the rendered page match the
JSON report, the page loads nothing from outside, and the severities are drawn in their colours. The screenshot is
kept in tests/output/ (git-ignored) as a test artifact.

Chromium is Debian's ``chromium`` package, installed by the test command. Locally without it the test skips with a
reason; in CI (CI=true) a missing browser is a failure."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser

import pytest
from hybrid_sim.simulation import DEFAULT_SERVERS, ServerSpec

from test_audit_push_notifications import audit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.path.join(ROOT, "tests", "output")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# The report's severity colours (plugins/module_utils/_audit.py): failure red, ok green, warning amber.
COLOURS = {"failure": (0xD1, 0x34, 0x38), "ok": (0x2E, 0x9D, 0x5B), "warning": (0xE0, 0xA1, 0x00)}


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "headless Chromium is not installed (apt-get install -y chromium; the test command installs it)"
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)
    raise AssertionError("unreachable")


def run_browser(browser: str, profile: str, *args: str) -> subprocess.CompletedProcess:
    command = [browser, *FLAGS, "--user-data-dir=" + profile, *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, "%s\n%s" % (command, done.stderr[-3000:])
    return done


class _Ids(HTMLParser):
    """Text of elements with an id, and the data-* attributes of organization sections, from the rendered DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.sections: list[dict[str, str]] = []
        self.external: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name) and re.match(r"^(https?:)?//", values[name]):
                self.external.append(values[name])
        if tag == "section":
            self.sections.append({k: v for k, v in values.items() if k.startswith("data-")})
        if values.get("id"):
            self._open.append(values["id"])
            self.text[values["id"]] = ""
        elif self._open:
            self._open.append("")

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for name in self._open:
            if name:
                self.text[name] += data


def png_pixels(path: str) -> tuple[int, int, int, bytes]:
    """(width, height, channels, raw pixel bytes) of an 8-bit, non-interlaced RGB/RGBA PNG (what Chromium writes)."""
    with open(path, "rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _c, _f, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    out = bytearray()
    previous = bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                line[i] = (line[i] + pred) & 0xFF
        out += line
        previous = line
    return width, height, channels, bytes(out)


def colour_counts(path: str) -> dict[str, int]:
    _w, _h, channels, pixels = png_pixels(path)
    counts = dict.fromkeys(COLOURS, 0)
    for i in range(0, len(pixels), channels):
        rgb = tuple(pixels[i:i + 3])
        for name, target in COLOURS.items():
            if all(abs(a - b) <= 6 for a, b in zip(rgb, target)):
                counts[name] += 1
    return counts


def test_html_report_in_headless_chromium_matches_the_json(make_simulation, run_playbook, tmp_path):
    browser = chromium()
    servers = list(DEFAULT_SERVERS) + [ServerSpec("EX2013CU2", "Version 15.0 (Build 712.24)")]
    sim = make_simulation(servers=servers)
    run, report = audit(sim, run_playbook)
    assert run.ok, run
    summary = report["summary"]
    assert summary["findings"]["failure"] > 0 and summary["findings"]["ok"] > 0  # something of each to draw
    html_path = os.path.join(sim.directory, "reports", "push-notifications-audit.html")
    profile = str(tmp_path / "chromium-profile")

    dom = run_browser(browser, profile, "--dump-dom", "file://" + html_path).stdout
    page = _Ids()
    page.feed(dom)
    assert page.external == []
    assert page.text["summary-organizations"].strip() == str(summary["organizations"])
    assert page.text["summary-servers"].strip() == str(summary["servers"])
    for severity in ("ok", "warning", "failure"):
        assert page.text["summary-" + severity].strip() == str(summary["findings"][severity]), severity
    assert page.text["summary-status"].strip() == summary["status"]
    orgs = report["organizations"]
    assert len(page.sections) == len(orgs)
    for section, org in zip(page.sections, orgs):
        assert section["data-status"] == org["status"]
        for severity in ("ok", "warning", "failure"):
            assert int(section["data-" + severity]) == org["counts"][severity]

    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "audit-report.png")
    if os.path.exists(shot):
        os.unlink(shot)
    run_browser(browser, profile, "--hide-scrollbars", "--window-size=1280,1800", "--screenshot=" + shot,
                "file://" + html_path)
    assert os.path.getsize(shot) > 10000
    counts = colour_counts(shot)
    # Failure rows and badges are red, ok ones green: the page was drawn with its styles.
    assert counts["failure"] > 500 and counts["ok"] > 500, counts
