"""The report page in a real browser (headless Chromium): every image decodes, every plot has a size,
and nothing is logged as an error. CI installs Debian's chromium; elsewhere the test is skipped.

A copy of the page gets a small script that, on load, writes what it found into the DOM;
Chromium's --dump-dom prints that DOM, and --enable-logging shows console messages on stderr.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import add_evaluations, cli, make_run

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

PROBE = """<script>
window.__errors = [];
window.addEventListener("error", (e) => {
  window.__errors.push("error: " + (e.message || (e.target && e.target.tagName + " failed to load")));
}, true);
const __consoleError = console.error;
console.error = (...args) => { window.__errors.push("console: " + args.join(" ")); __consoleError(...args); };
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const result = {
    images: images.length,
    broken: images.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.alt),
    svgs: Array.from(document.querySelectorAll("svg")).map((s) => {
      const box = s.getBoundingClientRect();
      return [s.id, box.width, box.height];
    }),
    errors: window.__errors,
  };
  const out = document.createElement("pre");
  out.id = "browser-check";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


def open_in_chromium(page: Path, tmp_path: Path) -> tuple[dict, list[str]]:
    """(what the probe found, console lines from Chromium's log) for a copy of `page`."""
    probed = tmp_path / f"probed-{page.name}"
    probed.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
        "--virtual-time-budget=5000", "--dump-dom", probed.resolve().as_uri(),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="browser-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the probe did not run; Chromium said: {done.stderr[-2000:]}"
    result = json.loads(html.unescape(found.group(1)))
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    return result, console


@pytest.fixture(scope="module")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (CI installs it: apt-get install -y chromium)")
    return CHROMIUM


@pytest.mark.e2e
def test_every_image_and_plot_loads_without_errors(chromium, tmp_path):
    run = make_run(tmp_path)
    add_evaluations(run)
    assert cli("report", run).exit_code == 0
    result, console = open_in_chromium(run / "report.html", tmp_path)
    assert result["images"] >= 2 + 20  # two sample grids, then the translation tables
    assert result["broken"] == []
    assert sorted(s[0] for s in result["svgs"]) == ["loss-plot", "metric-plot"]
    assert all(width > 100 and height > 50 for _, width, height in result["svgs"]), result["svgs"]
    assert result["errors"] == [] and console == []


def test_the_probe_sees_a_broken_image_and_a_script_error(chromium, tmp_path):
    """The check above can fail: a page with an undecodable image and a throwing script is caught."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head></head><body><img alt="bad" src="data:image/png;base64,AAAA">'
        "<script>console.error('boom'); undefinedFunction();</script></body></html>"
    )
    result, console = open_in_chromium(page, tmp_path)
    assert result["broken"] == ["bad"]
    assert any("boom" in e for e in result["errors"]) and any("undefinedFunction" in e for e in result["errors"])
    assert any("undefinedFunction" in line for line in console)
