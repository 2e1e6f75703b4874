"""The page of `translate serve` in headless Chromium: an image chosen through the page's file input
comes back as the result, equal to `translate convert`'s output, at a phone's width without sideways
scrolling and without script errors. CI installs Debian's chromium; elsewhere the test is skipped.

The page is driven over Chromium's DevTools protocol (a WebSocket): the test hands the page a file
the way a person's file picker does (the input's `files`, then its `change` event), waits for the
result, and reads the bytes behind the page's download link.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.helpers import cli
from tests.serve_helpers import running_server, tiny_model
from tests.test_report_browser import CHROMIUM
from translate.data.demo import make_domain_images

pytestmark = pytest.mark.slow

UPLOAD_AND_WAIT = """
(async () => {
  const until = async (test, what) => {
    for (let i = 0; i < 600; i++) {
      const found = test();
      if (found) return found;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("timed out waiting for " + what);
  };
  await until(() => document.querySelector("#model option"), "the model list");
  const bytes = Uint8Array.from(atob(IMAGE), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], "scene.png", { type: "image/png" }));
  const input = document.getElementById("files");
  input.files = transfer.files;
  input.dispatchEvent(new Event("change", { bubbles: true }));
  const result = await until(() => document.querySelector("article.result:not([data-state=running])"), "a result");
  const output = result.querySelector("img.output");
  await until(() => output.complete && output.naturalWidth > 0, "the result image to decode");
  const link = result.querySelector("a.download");
  const blob = await (await fetch(link.href)).arrayBuffer();
  let binary = "";
  new Uint8Array(blob).forEach((b) => { binary += String.fromCharCode(b); });
  return JSON.stringify({
    state: result.dataset.state, time: result.querySelector(".time").textContent, file: link.download,
    png: btoa(binary), card: document.getElementById("card").textContent,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
  });
})()
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (CI installs it: apt-get install -y chromium)")
    return CHROMIUM


class DevTools:
    """The smallest DevTools client: one page, commands by id, console errors and exceptions collected."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self.socket = connect(url, max_size=None, proxy=None)
        self.ids = itertools.count(1)
        self.errors: list[str] = []

    def call(self, method: str, timeout: float = 60, **params) -> dict:
        number = next(self.ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("method") == "Runtime.exceptionThrown":
                self.errors.append(json.dumps(message["params"]["exceptionDetails"])[:500])
            elif message.get("method") == "Runtime.consoleAPICalled" and message["params"]["type"] == "error":
                self.errors.append(str(message["params"]["args"])[:500])
            if message.get("id") == number:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message["result"]


def open_page(chromium: str, url: str, profile: Path) -> tuple[subprocess.Popen, DevTools]:
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
        "--disable-background-networking", "--disable-component-update", "--no-proxy-server",
        f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank",
    ]  # fmt: skip
    browser = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    for line in browser.stderr:  # "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/..."
        found = re.search(r"ws://127\.0\.0\.1:(\d+)/", line)
        if found:
            break
    else:
        raise AssertionError("chromium did not open its DevTools port")
    targets = httpx.get(f"http://127.0.0.1:{found.group(1)}/json/list", trust_env=False).json()
    page = next(t for t in targets if t["type"] == "page")
    tools = DevTools(page["webSocketDebuggerUrl"])
    tools.call("Runtime.enable")
    tools.call("Page.enable")
    tools.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=2, mobile=True)
    tools.call("Page.navigate", url=url)
    return browser, tools


def test_an_image_uploaded_through_the_page_comes_back_as_convert_makes_it(chromium, tmp_path):
    model = tiny_model(tmp_path / "tiny")
    scene = make_domain_images(1, 40, seed=7)[0]
    (tmp_path / "in").mkdir()
    Image.fromarray(scene).save(tmp_path / "in" / "scene.png")
    converted = cli(
        "convert", "--model", model, "--input", tmp_path / "in", "--output", tmp_path / "out", "--device", "cpu"
    )
    assert converted.exit_code == 0, converted.output
    expected = np.asarray(Image.open(tmp_path / "out" / "scene.png"))

    with running_server(model, "--device", "cpu", log=tmp_path / "server.txt") as server:
        browser, tools = open_page(chromium, server.url + "/", tmp_path / "profile")
        try:
            script = UPLOAD_AND_WAIT.replace(
                "IMAGE", json.dumps(base64.b64encode((tmp_path / "in" / "scene.png").read_bytes()).decode())
            )
            answer = tools.call(
                "Runtime.evaluate", expression=script, awaitPromise=True, returnByValue=True, timeout=120
            )
        finally:
            browser.terminate()
            browser.wait(30)
    assert "exceptionDetails" not in answer, answer
    found = json.loads(answer["result"]["value"])
    assert found["state"] == "done", found["time"]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(base64.b64decode(found["png"])))), expected)
    assert found["file"] == "scene-tiny.png" and re.search(r"\d\.\d\d s", found["time"])
    assert "cyclegan" in found["card"] and "32 px" in found["card"]  # the model card: method, training size
    assert found["overflow"] <= 0  # a phone's width: nothing to scroll sideways
    assert tools.errors == []


DOCS_RENDERED = """
(async () => {
  for (let i = 0; i < 200 && document.querySelectorAll(".endpoint").length < 4; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return Array.from(document.querySelectorAll(".endpoint h2")).map((h) => h.textContent);
})()
"""


def test_the_api_reference_renders_from_the_schema_offline(chromium, tmp_path):
    with running_server(tiny_model(tmp_path / "tiny"), "--device", "cpu", log=tmp_path / "server.txt") as server:
        browser, tools = open_page(chromium, server.url + "/docs", tmp_path / "profile")
        try:
            shown = tools.call("Runtime.evaluate", expression=DOCS_RENDERED, awaitPromise=True, returnByValue=True)
        finally:
            browser.terminate()
            browser.wait(30)
    endpoints = shown["result"]["value"]
    assert "POST /v1/models/{name}/translate" in endpoints and "GET /v1/models" in endpoints, endpoints
    assert tools.errors == []
