"""`translate serve`: the API over real HTTP against a server process, its batcher, its limits and auth.

The server runs the one runner, so its answers equal `translate convert`'s output bit for bit
(fp32, one image per batch: docs/ARCHITECTURE.md). The page in a browser is in test_serve_browser.py.
"""

from __future__ import annotations

import asyncio
import io
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.helpers import cli, one_line_error
from tests.serve_helpers import running_server, start_server, tiny_model, tiny_upscaler
from translate.data.demo import make_domain_images
from translate.serve.batching import Batcher, Overloaded

MAX_PIXELS = 200_000


def client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, trust_env=False, timeout=60)  # no proxy for 127.0.0.1


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def pixels_of(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"tiny": tiny_model(root / "tiny"), "sr": tiny_upscaler(root / "sr.d")}


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "stderr.txt"
    args = (models["tiny"], models["sr"], "--device", "cpu", "--max-wait-ms", "20", "--max-body-mb", "0.5")
    with running_server(*args, "--max-pixels", MAX_PIXELS, log=log) as running:
        yield running


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return make_domain_images(1, 48, seed=5)[0][:, :44]  # 48 x 44: padded to multiples of 4 inside, cropped back


def test_health_and_the_list_of_models(server):
    with client(server.url) as http:
        assert http.get("/healthz").json()["status"] == "ok"
        listing = http.get("/v1/models").json()
        cards = {card["name"]: card for card in listing["models"]}
        assert set(cards) == {"tiny", "sr.d"}
        assert (cards["tiny"]["kind"], cards["tiny"]["method"], cards["tiny"]["trained_size"]) == (
            "translate",
            "cyclegan",
            32,
        )
        assert "multiples of 4" in cards["tiny"]["sizes"]
        assert (cards["sr.d"]["kind"], cards["sr.d"]["scale"]) == ("upscale", 2)
        assert listing["limits"]["max_pixels"] == MAX_PIXELS
        assert http.get("/v1/models/sr.d").json()["scale"] == 2
        assert "/v1/models/{name}/translate" in http.get("/openapi.json").json()["paths"]
        page = http.get("/")
        assert page.status_code == 200 and "/page/app.js" in page.text
        assert http.get("/page/app.js").status_code == 200
        docs = http.get("/docs")  # our own reference page: FastAPI's loads scripts from a CDN
        assert docs.status_code == 200 and "/page/docs.js" in docs.text and "cdn" not in docs.text.lower()
        assert http.get("/page/..%2Fapp.py").status_code == 404  # only the page's own files, by name


def test_translation_equals_convert_bit_for_bit(server, models, scene, tmp_path):
    Image.fromarray(scene).save((tmp_path / "in").mkdir() or tmp_path / "in" / "scene.png")
    done = cli("convert", "--model", models["tiny"], "--input", tmp_path / "in", "--output", tmp_path / "out",
               "--device", "cpu")  # fmt: skip
    assert done.exit_code == 0, done.output
    expected = np.asarray(Image.open(tmp_path / "out" / "scene.png"))
    with client(server.url) as http:
        raw = http.post("/v1/models/tiny/translate", content=png_bytes(scene), headers={"content-type": "image/png"})
        assert raw.status_code == 200 and raw.headers["content-type"] == "image/png"
        assert np.array_equal(pixels_of(raw.content), expected)
        form = http.post("/v1/models/tiny/translate", files={"image": ("scene.png", png_bytes(scene), "image/png")})
        assert form.status_code == 200 and np.array_equal(pixels_of(form.content), expected)
        for asked, media in (({"format": "jpg"}, "image/jpeg"), ({"format": "webp"}, "image/webp")):
            answer = http.post("/v1/models/tiny/translate", params=asked, content=png_bytes(scene))
            assert answer.headers["content-type"] == media and pixels_of(answer.content).shape == expected.shape
        accepted = http.post("/v1/models/tiny/translate", content=png_bytes(scene), headers={"accept": "image/webp"})
        assert accepted.headers["content-type"] == "image/webp"
    assert not np.array_equal(expected, scene)  # the model did something


def test_upscaler_answers_twice_the_size_as_upscale_does(server, models, scene, tmp_path):
    Image.fromarray(scene).save((tmp_path / "in").mkdir() or tmp_path / "in" / "scene.png")
    done = cli("upscale", "--model", models["sr"], "--input", tmp_path / "in", "--output", tmp_path / "out",
               "--device", "cpu")  # fmt: skip
    assert done.exit_code == 0, done.output
    with client(server.url) as http:
        answer = http.post("/v1/models/sr.d/translate", content=png_bytes(scene))
    assert answer.status_code == 200
    result = pixels_of(answer.content)
    assert result.shape == (96, 88, 3)
    assert np.array_equal(result, np.asarray(Image.open(tmp_path / "out" / "scene.png")))


def test_bad_inputs_get_their_status_while_another_client_is_served(server, scene):
    statuses: list[int] = []
    stop = threading.Event()

    def keep_translating() -> None:
        with client(server.url) as http:
            while not stop.is_set():
                statuses.append(http.post("/v1/models/tiny/translate", content=png_bytes(scene)).status_code)

    worker = threading.Thread(target=keep_translating)
    worker.start()
    good = png_bytes(scene)
    noise = np.random.default_rng(0).integers(0, 256, (800, 800, 3), dtype=np.uint8)  # ~1.9 MB as PNG
    big = np.zeros((500, 500, 3), np.uint8)  # 250,000 pixels, a tiny file
    cases = [
        ("body over --max-body-mb", dict(content=png_bytes(noise)), 413),
        ("pixels over --max-pixels", dict(content=png_bytes(big)), 413),
        ("not an image", dict(content=b"GIF89a but not really", headers={"content-type": "image/gif"}), 400),
        ("truncated PNG", dict(content=good[: len(good) // 2]), 400),
        ("empty body", dict(content=b""), 400),
        ("text, not an image", dict(content=b"hello", headers={"content-type": "text/plain"}), 415),
        ("form without a file", dict(files={"image": (None, b"x")}), 400),
        ("unknown format", dict(content=good, params={"format": "gif"}), 406),
    ]
    try:
        with client(server.url) as http:
            for what, request, status in cases:
                answer = http.post("/v1/models/tiny/translate", **request)
                assert answer.status_code == status, (what, answer.text)
                error = answer.json()["error"]
                assert isinstance(error, str) and "\n" not in error and error, what
            unknown = http.post("/v1/models/nope/translate", content=good)
            assert unknown.status_code == 404 and "nope" in unknown.json()["error"]
            assert http.post("/v1/models/../../etc/passwd/translate", content=good).status_code == 404
            time.sleep(0.5)  # the other client keeps going after the last bad request
            assert http.post("/v1/models/tiny/translate", content=good).status_code == 200
    finally:
        stop.set()
        worker.join(60)
    assert len(statuses) >= 3 and set(statuses) == {200}, statuses


def test_a_token_is_checked_on_api_calls(models, tmp_path):
    args = (models["tiny"], "--device", "cpu", "--token", "s3cret")
    with running_server(*args, log=tmp_path / "log") as server, client(server.url) as http:
        assert http.get("/healthz").status_code == 200  # for load balancers: no data, no token
        refused = http.get("/v1/models")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        wrong = {"authorization": "Bearer nope"}
        assert http.post("/v1/models/tiny/translate", content=b"x", headers=wrong).status_code == 401
        right = {"authorization": "Bearer s3cret"}
        assert http.get("/v1/models", headers=right).status_code == 200
        image = png_bytes(np.zeros((8, 8, 3), np.uint8))
        assert http.post("/v1/models/tiny/translate", content=image, headers=right).status_code == 200


def test_a_public_address_needs_a_token_or_no_auth(models):
    line = one_line_error(cli("serve", models["tiny"], "--host", "0.0.0.0"))
    assert "--token" in line and "--no-auth" in line
    assert "contradict" in one_line_error(cli("serve", models["tiny"], "--token", "x", "--no-auth"))
    assert "--max-batch" in one_line_error(cli("serve", models["tiny"], "--max-batch", "0"))
    assert "not-a-model" in one_line_error(cli("serve", "not-a-model", "--port", "0"))


def test_a_taken_port_is_one_line(models):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert "cannot listen" in one_line_error(cli("serve", models["tiny"], "--port", port, "--device", "cpu"))


def test_sigterm_lets_in_flight_requests_finish(models, tmp_path):
    server = start_server(models["tiny"], "--device", "cpu", "--max-batch", "1", log=tmp_path / "log")
    photo = png_bytes(make_domain_images(1, 256, seed=1)[0])
    answers: list[int | str] = []

    def ask() -> None:
        with client(server.url) as http:
            try:
                answers.append(http.post("/v1/models/tiny/translate", content=photo).status_code)
            except httpx.ConnectError:  # it came after the signal: the server no longer accepts
                answers.append("refused")

    try:
        askers = [threading.Thread(target=ask) for _ in range(6)]
        for asker in askers:
            asker.start()
        with client(server.url) as http:
            deadline = time.monotonic() + 30
            while (in_flight := http.get("/healthz").json()["in_flight"]) < 4 and time.monotonic() < deadline:
                time.sleep(0.005)
        assert in_flight >= 4  # SIGTERM comes while requests are waiting and running
    finally:
        code = server.stop()
    for asker in askers:
        asker.join(60)
    # uvicorn finishes the requests, then ends by the signal it caught (as a shell reports it: 143)
    assert code == -signal.SIGTERM, server.log.read_text()[-2000:]
    # Every request in flight at the signal was answered in full; a late one may only be refused
    # (on a busy machine not all six have connected when the signal comes).
    assert len(answers) == 6 and answers.count(200) >= in_flight, answers
    assert set(answers) <= {200, "refused"}, answers


# -- the batcher itself -----------------------------------------------------------------------------


class CountingRun:
    """A stand-in network that records each batch it is given (and can be held)."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, tuple[int, ...]]] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        self.gate.wait(30)
        self.batches.append((len(pixels), pixels.shape[1:3]))
        return 255 - pixels


def _submit_all(batcher: Batcher, images: list[np.ndarray]) -> list:
    async def go() -> list:
        batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(image) for image in images), return_exceptions=True)
        finally:
            await batcher.stop()

    return asyncio.run(go())


def test_concurrent_same_size_requests_share_a_batch():
    run = CountingRun()
    small, large = np.zeros((8, 8, 3), np.uint8), np.ones((12, 16, 3), np.uint8)
    images = [small, large, small, small, large, small, small]
    results = _submit_all(Batcher(run, "m", max_batch=4, max_wait=0.2), images)
    assert sorted(run.batches) == [(1, (8, 8)), (2, (12, 16)), (4, (8, 8))]  # sizes never mix
    assert all(np.array_equal(r.pixels, 255 - image) for r, image in zip(results, images, strict=True))
    assert sorted(r.batch_size for r in results) == [1, 2, 2, 4, 4, 4, 4]


def test_max_batch_1_runs_each_request_alone():
    run = CountingRun()
    _submit_all(Batcher(run, "m", max_batch=1, max_wait=0.2), [np.zeros((8, 8, 3), np.uint8)] * 5)
    assert run.batches == [(1, (8, 8))] * 5


def test_a_full_queue_is_refused_and_the_rest_served():
    run = CountingRun()
    run.gate.clear()  # the first batch holds the worker: the others wait in the queue
    image = np.zeros((8, 8, 3), np.uint8)

    async def go() -> list:
        batcher = Batcher(run, "m", max_batch=1, max_wait=0, max_queue=2)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(image))
        await asyncio.sleep(0.1)  # taken by the worker, which waits at the gate
        queued = [asyncio.ensure_future(batcher.submit(image)) for _ in range(2)]
        await asyncio.sleep(0.05)
        with pytest.raises(Overloaded):
            await batcher.submit(image)
        run.gate.set()
        done = await asyncio.gather(first, *queued)
        await batcher.stop()
        return done

    assert [r.batch_size for r in asyncio.run(go())] == [1, 1, 1]


class Gate(threading.Event):
    """Holds the model until set; `entered` is set once a batch waits inside the model."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()


@contextmanager
def held_server(model_folder: Path, settings) -> Iterator[tuple[str, Gate]]:
    """A real uvicorn server in this process whose model waits at a gate, so queues fill for certain;
    yields its URL and the gate (set it to let the model run)."""
    import uvicorn

    from translate.serve.app import create_app
    from translate.serve.models import load_models

    gate = Gate()
    (model,) = load_models([str(model_folder)], "cpu", "fp32", 512, 32)
    real_run = model.run

    def held(pixels: np.ndarray) -> np.ndarray:
        gate.entered.set()
        gate.wait(30)
        return real_run(pixels)

    model.run = held  # type: ignore[method-assign]
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app([model], settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]})
    thread.start()
    try:
        while not server.started and thread.is_alive():
            time.sleep(0.01)
        yield f"http://127.0.0.1:{listening.getsockname()[1]}", gate
    finally:
        gate.set()
        server.should_exit = True
        thread.join(30)


def _wait_for_in_flight(url: str, count: int) -> None:
    """Poll /healthz, which answers while the model is held: the event loop is never blocked by it."""
    with client(url) as http:
        deadline = time.monotonic() + 30
        while http.get("/healthz").json()["in_flight"] < count:
            assert time.monotonic() < deadline, "the requests never arrived"
            time.sleep(0.01)


def test_full_queue_answers_503_with_retry_after_over_http(models):
    from translate.serve.app import ServeSettings

    image = png_bytes(np.zeros((8, 8, 3), np.uint8))
    statuses: list[int] = []

    def ask(url: str) -> None:
        with client(url) as http:
            statuses.append(http.post("/v1/models/tiny/translate", content=image).status_code)

    with held_server(models["tiny"], ServeSettings(max_batch=1, max_wait_ms=0, max_queue=2)) as (url, gate):
        askers = [threading.Thread(target=ask, args=(url,)) for _ in range(3)]  # one running, two waiting
        askers[0].start()
        # The first must be inside the model before the others come: three arriving at once would all
        # wait in the queue, and the third be refused.
        assert gate.entered.wait(30), "the first request never reached the model"
        for asker in askers[1:]:
            asker.start()
        _wait_for_in_flight(url, 3)
        with client(url) as http:
            refused = http.post("/v1/models/tiny/translate", content=image)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1", refused.text
        assert "--max-queue" in refused.json()["error"]
        gate.set()
        for asker in askers:
            asker.join(60)
        assert statuses == [200] * 3
        with client(url) as http:  # and it serves on
            assert http.post("/v1/models/tiny/translate", content=image).status_code == 200


def test_a_request_past_its_timeout_gets_504_and_the_server_serves_on(models):
    from translate.serve.app import ServeSettings

    image = png_bytes(np.zeros((8, 8, 3), np.uint8))
    with held_server(models["tiny"], ServeSettings(timeout_s=3)) as (url, gate), client(url) as http:
        late = http.post("/v1/models/tiny/translate", content=image)
        assert late.status_code == 504 and "3 s" in late.json()["error"]
        gate.set()
        assert http.post("/v1/models/tiny/translate", content=image).status_code == 200

        def slowly():  # half the image, then nothing for longer than the timeout
            yield image[:20]
            time.sleep(4)
            yield image[20:]

        stalled = http.post("/v1/models/tiny/translate", content=slowly())
        assert stalled.status_code == 408 and "did not arrive" in stalled.json()["error"]
        assert http.post("/v1/models/tiny/translate", content=image).status_code == 200


def test_model_names_are_unique_and_safe(tmp_path):
    from translate.serve.models import model_name, unique_names

    assert unique_names(["a", "a", "b", "a-2", "a"]) == ["a", "a-2", "b", "a-2-2", "a-3"]
    weights = tmp_path / "horse 2 zebra.pth"
    weights.write_bytes(b"")
    assert model_name(str(weights), None) == "horse-2-zebra"
    assert model_name("horse2zebra", None) == "horse2zebra"
    assert model_name(str(tmp_path / "run"), "a2b") == "run-a2b"


@pytest.mark.slow
def test_the_load_benchmark_runs_without_errors(tmp_path):
    """tools/bench_serve.py, small: both servers answer every request and the table has both rows."""
    import subprocess
    import sys

    from tests.serve_helpers import ROOT

    command = [sys.executable, "tools/bench_serve.py", "--clients", "4", "--seconds", "2", "--warmup", "2"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith(("| on", "| off"))]
    assert len(rows) == 2 and all(line.split("|")[3].strip() == "0" for line in rows), done.stdout
    assert "throughput ratio" in done.stdout and not done.stderr.strip()


def test_a_run_folder_with_two_generators_serves_both(tmp_path):
    from translate.serve.models import load_models

    for direction in ("a2b", "b2a"):
        tiny_model(tmp_path / "run" / "models" / direction)
    served = load_models([str(tmp_path / "run"), str(tmp_path / "run" / "models" / "a2b")], "cpu", "fp32", 512, 32)
    assert [m.name for m in served] == ["run-a2b", "run-b2a", "a2b"]
    assert [m.card()["direction"] for m in served] == ["a2b", "b2a", None]
