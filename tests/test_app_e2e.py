"""End to end: `python app.py` on a free port, on a machine without weights, driven with gradio_client."""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import running_app
from gradio_client import Client
from PIL import Image

from spatial_ssrl.analysis.audit import task_audit
from spatial_ssrl.scenes.assets import load_asset, scene_names
from spatial_ssrl.tasks import TASK_NAMES, generate

pytestmark = pytest.mark.slow  # starts app.py


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app")) as started:
        yield started


@pytest.fixture(scope="module")
def client(app, tmp_path_factory):
    return Client(app[0], verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def test_page_says_what_is_unavailable_and_how_to_enable_it(app):
    url, log = app
    config = json.loads(urllib.request.urlopen(url + "config", timeout=10).read())
    texts = " ".join(str(component.get("props", {}).get("value", "")) for component in config["components"])
    assert "Model unavailable here" in texts and "SPATIAL_SSRL_MODEL=DIR" in texts and "--model DIR" in texts
    assert "Model unavailable here" in log.read_text(), "the terminal says it too"


def test_scenes_endpoint(client):
    assert client.predict(api_name="/scenes") == scene_names()


@pytest.mark.parametrize("task", TASK_NAMES)
def test_task_endpoint_returns_the_record_and_lossless_images(client, task):
    controls = {"grid": "1x4"} if task == "shuffle" else {}
    record, images, points = client.predict("room", task, 21, json.dumps(controls), api_name="/task")
    expected = generate(load_asset("room"), task, 21, controls)
    assert record == json.loads(json.dumps(expected.record()))
    assert [Path(path).name for path in images] == record["images"]
    for path, image in zip(images, expected.images):
        with Image.open(path) as received:
            assert np.array_equal(np.asarray(received.convert("RGB")), np.asarray(image))
    assert Path(points).suffix == ".glb" and Path(points).stat().st_size > 10_000


def test_task_endpoint_reports_bad_input_and_unavailable_tasks(client):
    with pytest.raises(Exception, match="grid"):
        client.predict("room", "shuffle", 0, '{"grid": "5x5"}', api_name="/task")
    with pytest.raises(Exception, match="JSON"):
        client.predict("room", "shuffle", 0, "{grid", api_name="/task")
    record, images, points = client.predict("astronaut", "depth", 0, "{}", api_name="/task")
    assert "needs a depth map" in record["unavailable"] and images in ([], None) and points is None
    assert client.predict(api_name="/scenes"), "the app is still up"


def test_score_endpoint(client):
    strict = client.predict("<think>hmm</think> \\boxed{2 - 1 - 3}", "2-1-3", "strict", api_name="/score")
    lenient = client.predict("<think>hmm</think> \\boxed{2 - 1 - 3}", "2-1-3", "lenient", api_name="/score")
    exact = client.predict("<think>hmm</think> \\boxed{2-1-3}", "2-1-3", "strict", api_name="/score")
    assert exact["overall"] == pytest.approx(1.0) and exact["extracted"] == "2-1-3"
    assert (strict["accuracy"], strict["overall"], strict["mode"]) == (0.0, pytest.approx(0.1), "strict")
    assert (lenient["accuracy"], lenient["overall"], lenient["mode"]) == (1.0, pytest.approx(1.0), "lenient")
    assert client.predict("no box", "A", "strict", api_name="/score")["overall"] == 0


def test_score_endpoint_reads_option_texts_given_the_task_and_options(client):
    record = client.predict("room", "position", 8, "{}", api_name="/task")[0]
    letter = record["answer"]
    text = record["options"]["ABCD".index(letter)]
    response = f"<think>hmm</think> \\boxed{{{letter}. {text}}}"
    options = json.dumps(record["options"])
    assert client.predict(response, letter, "lenient", api_name="/score")["accuracy"] == 0.0
    scored = client.predict(response, letter, "lenient", record["task"], options, api_name="/score")
    assert (scored["accuracy"], scored["extracted"]) == (1.0, f"{letter}. {text}")
    assert client.predict(f"<think></think> \\boxed{{{text}}}", letter, "lenient", options=options,
                          api_name="/score")["accuracy"] == 1.0
    assert client.predict(f"<think></think> \\boxed{{{letter}}}", letter, api_name="/score")["mode"] == "strict"
    with pytest.raises(Exception, match="JSON list"):
        client.predict(response, letter, "lenient", "", "Left, Right", api_name="/score")


def test_audit_endpoint_reports_soundness_and_the_baselines(client):
    audit = client.predict("room", "crop", 21, '{"size_fraction": 0.4}', api_name="/audit")
    expected = task_audit(load_asset("room"), generate(load_asset("room"), "crop", 21, {"size_fraction": 0.4}))
    assert audit == json.loads(json.dumps(expected))
    assert audit["chance"] == 0.25 and set(audit["soundness"]["details"]["distance_to_answer"]) == set("ABCD")
    lenient = client.predict("room", "depth", 21, api_name="/audit", mode="lenient")
    assert {row["mode"] for row in lenient["baselines"]} == {"lenient"} and "checks" in lenient["soundness"]
    assert "needs a depth map" in client.predict("astronaut", "position", 0, "", api_name="/audit")["unavailable"]
    with pytest.raises(Exception, match="grid"):
        client.predict("room", "shuffle", 0, '{"grid": "5x5"}', api_name="/audit")


def test_concurrent_task_requests_all_succeed(client):
    def one(seed: int) -> str:
        return client.predict("tabletop", TASK_NAMES[seed % len(TASK_NAMES)], seed, "{}", api_name="/task")[0]["task"]

    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(one, range(16)))
    assert done == [TASK_NAMES[seed % len(TASK_NAMES)] for seed in range(16)]
