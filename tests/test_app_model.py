"""The app's model path on tiny random models built here (no weights, no network): the folder given to the
Studio (as `--model DIR` / SPATIAL_SSRL_MODEL=DIR would) is loaded, streamed, scored and sampled as a group;
the tiny depth model fills in depth for an upload without it; a CPU load leaves a core free."""

from __future__ import annotations

import pytest
from PIL import Image

from demo import Studio, handlers
from spatial_ssrl.cores import default_workers
from spatial_ssrl.models import hub, loading, runner
from spatial_ssrl.models.tiny import TINY_MAX_PIXELS, TINY_MIN_PIXELS, save_tiny_depth, save_tiny_vlm

pytestmark = pytest.mark.slow  # every test here loads tiny models


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("SPATIAL_SSRL_DEVICE", "cpu")
        made = Studio(model=str(save_tiny_vlm(folder / "vlm")), depth_model=str(save_tiny_depth(folder / "depth")),
                      files_dir=folder / "files", point_budget=2000,
                      min_pixels=TINY_MIN_PIXELS, max_pixels=TINY_MAX_PIXELS)
        yield made


@pytest.fixture(scope="module")
def current(studio):
    values = [control.default for _, control in handlers.control_layout()]
    view = handlers.render_task(studio, studio.scene("room"), "crop", 2, *values)
    assert view[0].task.ok
    return view[0]


def test_banner_says_the_local_model_loads_on_first_use(studio, tmp_path):
    banner = studio.status().banner()
    assert f"**Model**: `{studio.model}`, loads on first use" in banner
    assert "unavailable" not in banner
    assert hub.model_status(studio.model)["ready"] and hub.model_status(studio.depth_model)["ready"]
    not_ready = hub.model_status(str(tmp_path))
    assert not not_ready["ready"], "a folder without config.json"
    with pytest.raises(hub.ModelUnavailable):  # ... and the loader agrees
        runner.load_model(str(tmp_path), device="cpu")


def test_run_model_streams_then_scores(studio, current):
    updates = list(handlers.run_model(studio, current, 12, 0.0, 1.0, 0, True, "strict"))
    assert len(updates) >= 2, "at least the opening and the scored update"
    assert updates[0][1] == "*generating…*"
    chat, reward = updates[-1]
    assert chat[0]["role"] == "user" and "&lt;image1&gt;" in chat[0]["content"], "shown, not eaten as HTML"
    assert chat[0]["content"].endswith("\\boxed{}."), "the training format instruction is appended"
    assert chat[-1]["role"] == "assistant"
    assert "| format | accuracy | overall | extracted | mode |" in reward and "strict" in reward
    assert "tokens in" in reward and "ended by" in reward
    again = list(handlers.run_model(studio, current, 12, 0.0, 1.0, 0, True, "strict"))[-1]
    assert again[0] == chat, "greedy decoding repeats itself"


def test_sample_group_scores_each_answer_with_advantages(studio, current):
    rows, summary = handlers.sample_group(studio, current, 3, 8, 1.0, 1.0, 7, True, "lenient")
    assert [row[0] for row in rows] == [1, 2, 3]
    assert all(row[2] in (0.0, 1.0) and row[3] in (0.0, 1.0) for row in rows)
    assert "mean reward" in summary and "(lenient reward)" in summary
    if len({row[4] for row in rows}) == 1:
        assert all(row[5] == 0 for row in rows) and "no learning signal" in summary
    else:
        assert abs(sum(row[5] for row in rows)) < 1e-6
    rows, summary = handlers.sample_group(studio, current, 3, 8, 0.0, 1.0, 7, True, "strict")
    assert rows == [] and "temperature" in summary, "greedy groups are refused with the reason"


def test_upload_without_depth_gets_estimated_depth(studio, tmp_path):
    rgb = tmp_path / "photo.png"
    Image.fromarray(studio.scene("coffee").rgb).save(rgb)
    scene, info = handlers.load_upload(studio, None, str(rgb), None, None, None, True)
    assert scene.has_depth and scene.depth_origin == f"estimated:{studio.depth_model}"
    assert "estimated by the model" in info


def test_loading_on_the_cpu_leaves_a_core_for_other_visitors(studio):
    import torch

    cores = default_workers()
    before = torch.get_num_threads()
    torch.set_num_threads(cores)
    try:
        loading.unload(studio.model)
        vlm, problem = handlers.load_vlm(studio)
        assert problem is None and vlm.device == "cpu"
        assert torch.get_num_threads() == max(1, cores - 1)
        torch.set_num_threads(1)
        assert loading.spare_a_core() == 1, "never raises a lower setting (e.g. OMP_NUM_THREADS=1)"
    finally:
        torch.set_num_threads(before)
