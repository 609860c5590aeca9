"""The runner's architecture-independent tests: pixel bounds, decoding settings, greedy and seeded sampling,
streaming and stopping, group sampling scored by the verifier.

Not a test module itself: test_models.py (Qwen2.5-VL) and test_models_qwen3vl.py (Qwen3-VL) import these
test functions, with `offline_hub` (autouse: no network, an empty Hugging Face cache in tmp, the CPU), so
that each runs them on its own module's `vlm` and `tasks` fixtures.
"""

from __future__ import annotations

import copy
import json
import threading

import pytest
from conftest import offline_models
from PIL import Image

from spatial_ssrl.models import runner
from spatial_ssrl.models.decoding import Decoding, group_advantages
from spatial_ssrl.models.tiny import TINY_MAX_PIXELS, TINY_MIN_PIXELS

TINY = dict(min_pixels=TINY_MIN_PIXELS, max_pixels=TINY_MAX_PIXELS)


@pytest.fixture(scope="module", autouse=True)
def offline_hub(tmp_path_factory):
    """No network and an empty Hugging Face cache in tmp for every test here."""
    with offline_models(tmp_path_factory.mktemp("hf_home")):
        yield


@pytest.mark.slow
def test_pixel_bounds_are_those_of_training_by_default(vlm):
    processor = copy.deepcopy(vlm.processor)  # the released processors' own bounds: 3,136 .. 12,845,056 pixels
    processor.image_processor.size = {"shortest_edge": 3_136, "longest_edge": 12_845_056}
    vlm = runner.replace(vlm, processor=processor, min_pixels=runner.MIN_PIXELS, max_pixels=runner.MAX_PIXELS)
    patch = vlm.processor.image_processor.patch_size  # 14 for Qwen2.5-VL, 16 for Qwen3-VL

    def pixels(image) -> int:
        t, h, w = vlm.inputs("Describe.", [image])["image_grid_thw"][0].tolist()
        return h * w * patch * patch

    # resized up to the training minimum first; the processor's rounding to its patch grid may take a little off
    assert 0.95 * 262_144 <= pixels(Image.new("RGB", (64, 48), "red")) <= 1.05 * 262_144
    assert 4_194_304 // 2 < pixels(Image.new("RGB", (2600, 2000), "blue")) <= 4_194_304  # large, not shrunk to min


@pytest.mark.slow
def test_our_decoding_overrides_the_model_generation_config(vlm):
    vlm.model.generation_config.update(top_k=1, repetition_penalty=1.05, temperature=0.1, top_p=0.001)
    sampled = vlm.generation_config(Decoding(temperature=1.0, top_p=0.9, max_new_tokens=7), n=5)
    assert (sampled.do_sample, sampled.temperature, sampled.top_p, sampled.top_k) == (True, 1.0, 0.9, 0)
    assert (sampled.repetition_penalty, sampled.num_return_sequences, sampled.max_new_tokens) == (1.0, 5, 7)
    greedy = vlm.generation_config(Decoding())
    assert greedy.do_sample is False and greedy.repetition_penalty == 1.0
    assert vlm.model.generation_config.top_k == 1  # the model's own config is left alone
    assert greedy.eos_token_id == vlm.model.generation_config.eos_token_id


@pytest.mark.slow
def test_greedy_answer_is_reproducible_and_equals_the_stream(vlm, tasks):
    task = tasks["shuffle"]
    first = vlm.answer(task, Decoding(max_new_tokens=12))
    assert first.text == vlm.answer(task, Decoding(max_new_tokens=12)).text
    assert 0 < first.n_tokens <= 12 and first.finish in ("eos", "length") and first.model == vlm.model_id
    stream = vlm.stream(task, Decoding(max_new_tokens=12))
    chunks = list(stream)
    assert "".join(chunks) == stream.text == first.text
    assert stream.result().n_tokens == first.n_tokens


@pytest.mark.slow
def test_sampling_is_reproducible_with_a_seed(vlm, tasks):
    task = tasks["flip"]
    sample = lambda seed: vlm.answer(task, Decoding(temperature=1.0, top_p=0.95, seed=seed, max_new_tokens=16)).text
    assert sample(1) == sample(1)
    assert len({sample(seed) for seed in (1, 2, 3)}) > 1


@pytest.mark.slow
def test_stream_stops_on_request_and_when_the_consumer_leaves(vlm, tasks):
    task = tasks["position"]
    stream = vlm.stream(task, Decoding(max_new_tokens=400))
    for _ in stream:
        stream.stop()
    stopped = stream.result()
    assert stopped.finish == "stopped" and stopped.n_tokens < 400 and stream.stopped

    stream = vlm.stream(task, Decoding(max_new_tokens=400))
    for _ in stream:
        break
    left = stream.result()
    assert left.finish == "stopped" and left.n_tokens < 400

    stream = vlm.stream(task, Decoding(max_new_tokens=400))
    threading.Timer(0.05, stream.stop).start()
    assert stream.result().n_tokens < 400
    assert vlm.lock.acquire(timeout=5)  # the worker released the model
    vlm.lock.release()


@pytest.mark.slow
def test_group_sampling_scores_every_answer_with_the_verifier(vlm, tasks):
    from spatial_ssrl.reward.verify import score

    task = tasks["depth"]
    decoding = Decoding(temperature=1.0, seed=7, max_new_tokens=10)
    group = vlm.sample_group(task, decoding=decoding)
    assert len(group.answers) == 5 and group.mode == "strict"
    assert len({answer.text for answer in group.answers}) > 1  # sampled, not five greedy copies
    for answer in group.answers:
        expected = score(answer.text, task.answer, mode="strict", task=task.task, options=task.options)
        assert answer.score.to_dict() == expected.to_dict() and answer.reward == expected.overall
    advantages, mean, std, no_signal = group_advantages(group.rewards)
    assert [answer.advantage for answer in group.answers] == advantages
    assert (group.mean, group.std, group.no_signal) == (mean, std, no_signal)
    assert no_signal == (len(set(group.rewards)) == 1)
    assert [a.text for a in vlm.sample_group(task, decoding=decoding).answers] == [a.text for a in group.answers]
    assert json.loads(json.dumps(group.to_dict()))["answers"][0]["advantage"] == group.answers[0].advantage
    with pytest.raises(ValueError, match="temperature"):
        vlm.sample_group(task, decoding=Decoding())
