"""The runner on Qwen3-VL, the architecture of internlm/Spatial-SSRL-Qwen3VL-4B, driven on a tiny random one.

The model is written by `spatial-ssrl make-tiny-model --arch qwen3-vl` (save_pretrained) and reloaded by the
runner's own loader (AutoProcessor + AutoModelForImageTextToText), offline; the tasks are generated from a
shipped photo. Checked here where Qwen3-VL differs from Qwen2.5-VL: 16-pixel patches (one image token per
32x32 pixels), no default system turn in the chat template, <think> as an ordinary token, mm_token_type_ids
for its M-RoPE, the images reaching the decoder, the five images of the crop task in one batched group.
The runner's architecture-independent tests (pixel bounds, decoding, streaming and stopping, group
sampling) are in runner_contract.py, imported below so that they run on this model too.
"""

from __future__ import annotations

import json

import pytest

# offline_hub is autouse (no network, an empty HF cache, the CPU); the runner's architecture-independent tests
# are collected here with this module's vlm and tasks (test_models.py runs them on Qwen2.5-VL).
from runner_contract import (  # noqa: F401
    TINY,
    offline_hub,
    test_greedy_answer_is_reproducible_and_equals_the_stream,
    test_group_sampling_scores_every_answer_with_the_verifier,
    test_our_decoding_overrides_the_model_generation_config,
    test_pixel_bounds_are_those_of_training_by_default,
    test_sampling_is_reproducible_with_a_seed,
    test_stream_stops_on_request_and_when_the_consumer_leaves,
)

from spatial_ssrl import cli
from spatial_ssrl.models.decoding import Decoding, split_response
from spatial_ssrl.models.runner import load_model
from spatial_ssrl.models.tiny import TINY_MAX_PIXELS, TINY_MIN_PIXELS
from spatial_ssrl.reward.verify import score
from spatial_ssrl.scenes.assets import load_asset
from spatial_ssrl.tasks import FORMAT_INSTRUCTION, generate

PATCH = 16  # Qwen3-VL's vision patch; 2x2 patches merge into one image token


@pytest.fixture(scope="module")
def qwen3_dir(tmp_path_factory, offline_hub):  # noqa: F811
    path = tmp_path_factory.mktemp("models") / "tiny-qwen3-vl"
    assert cli.main(["make-tiny-model", str(path), "--arch", "qwen3-vl"]) == 0
    return path


@pytest.fixture(scope="module")
def vlm(qwen3_dir):
    return load_model(str(qwen3_dir), **TINY)


@pytest.fixture(scope="module")
def tasks():
    """One task of each type from a shipped photo with stereo depth: one image each, five for crop."""
    scene = load_asset("motorcycle")
    generated = {name: generate(scene, name, seed=1) for name in ("shuffle", "flip", "crop", "depth", "position")}
    assert all(task.ok for task in generated.values())
    assert {name: len(task.images) for name, task in generated.items()} == {
        "shuffle": 1, "flip": 1, "crop": 5, "depth": 1, "position": 1}
    return generated


def image_spans(vlm, inputs) -> list[int]:
    """The length of each <|vision_start|> ... <|vision_end|> span, in order, checking it holds only image tokens."""
    tokenizer = vlm.processor.tokenizer
    start, end = (tokenizer.convert_tokens_to_ids(token) for token in ("<|vision_start|>", "<|vision_end|>"))
    ids = inputs["input_ids"][0].tolist()
    starts, ends = ([i for i, token in enumerate(ids) if token == mark] for mark in (start, end))
    spans = [ids[s + 1:e] for s, e in zip(starts, ends, strict=True)]
    assert all(set(span) == {vlm.model.config.image_token_id} for span in spans)
    return [len(span) for span in spans]


@pytest.mark.slow
def test_make_tiny_model_writes_a_qwen3_vl_that_the_runner_reloads(qwen3_dir, vlm):
    from transformers import Qwen2TokenizerFast, Qwen3VLForConditionalGeneration, Qwen3VLProcessor
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    config = json.loads((qwen3_dir / "config.json").read_text())
    assert config["model_type"] == "qwen3_vl" and config["architectures"] == ["Qwen3VLForConditionalGeneration"]
    assert (qwen3_dir / "model.safetensors").is_file() and (qwen3_dir / "chat_template.jinja").is_file()
    assert isinstance(vlm.model, Qwen3VLForConditionalGeneration)
    assert isinstance(vlm.processor, Qwen3VLProcessor)
    assert isinstance(vlm.processor.tokenizer, Qwen2TokenizerFast)
    assert isinstance(vlm.processor.video_processor, Qwen3VLVideoProcessor)
    images = vlm.processor.image_processor
    assert (images.patch_size, images.merge_size, list(images.image_mean)) == (PATCH, 2, [0.5, 0.5, 0.5])
    assert vlm.describe() == {"model": str(qwen3_dir), "device": "cpu", "dtype": "float32", "attention": "sdpa",
                              "min_pixels": TINY_MIN_PIXELS, "max_pixels": TINY_MAX_PIXELS}
    model_config, tokenizer = vlm.model.config, vlm.processor.tokenizer
    assert model_config.image_token_id == tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert model_config.vision_start_token_id == tokenizer.convert_tokens_to_ids("<|vision_start|>")
    assert model_config.text_config.rope_parameters["mrope_interleaved"] is True
    assert model_config.vision_config.deepstack_visual_indexes == [0, 1]
    assert vlm.model.get_output_embeddings().weight.data_ptr() == vlm.model.get_input_embeddings().weight.data_ptr()
    assert vlm.model.generation_config.eos_token_id == [tokenizer.convert_tokens_to_ids("<|im_end|>"),
                                                        tokenizer.pad_token_id]
    assert sum(parameter.numel() for parameter in vlm.model.parameters()) < 250_000  # tests stay fast


def test_arch_is_a_choice_qwen2_5_vl_by_default_and_not_with_depth(capsys):
    parser = cli.build_parser()
    assert parser.parse_args(["make-tiny-model", "out"]).arch == "qwen2.5-vl"
    assert parser.parse_args(["make-tiny-model", "out", "--arch", "qwen3-vl"]).arch == "qwen3-vl"
    for bad in (["--arch", "qwen3-vl", "--depth"], ["--arch", "qwen4"]):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(["make-tiny-model", "out", *bad])
        assert exit_.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


@pytest.mark.slow
def test_think_tags_are_ordinary_tokens_that_decoding_keeps(vlm):
    tokenizer = vlm.processor.tokenizer
    text = "<think>left is nearer</think> \\boxed{3-2-1}"
    ids = tokenizer(text).input_ids
    think, unthink = tokenizer.convert_tokens_to_ids(["<think>", "</think>"])
    assert ids[0] == think and unthink in ids and not {think, unthink} & set(tokenizer.all_special_ids)
    decoded = vlm.processor.batch_decode([ids + [tokenizer.convert_tokens_to_ids("<|im_end|>")]],
                                         skip_special_tokens=True)[0]
    assert decoded == text  # as the runner decodes: the tags survive, <|im_end|> does not
    assert split_response(decoded).thinking == "left is nearer"


@pytest.mark.slow
def test_single_image_task_goes_through_the_qwen3_vl_chat_template_and_is_answered(vlm, tasks):
    import torch  # here, not at the top: collecting this module must not import torch

    task = tasks["depth"]
    inputs = vlm.task_inputs(task)
    (t, h, w), = inputs["image_grid_thw"].tolist()
    assert t == 1 and TINY_MIN_PIXELS <= h * w * PATCH * PATCH <= TINY_MAX_PIXELS
    assert image_spans(vlm, inputs) == [h * w // 4]
    is_image = inputs["input_ids"][0] == vlm.model.config.image_token_id
    assert torch.equal(inputs["mm_token_type_ids"][0] == 1, is_image)  # what Qwen3-VL's M-RoPE reads
    text = vlm.processor.tokenizer.decode(inputs["input_ids"][0])
    assert text == ("<|im_start|>user\n<|vision_start|>" + "<|image_pad|>" * (h * w // 4)
                    + f"<|vision_end|>{task.prompt()}<|im_end|>\n<|im_start|>assistant\n")  # no system turn

    with torch.inference_mode():  # the image reaches the decoder: other pixels, other next-token logits
        logits = vlm.model(**inputs).logits[0, -1]
        other = vlm.model(**{**inputs, "pixel_values": inputs["pixel_values"].flip(0)}).logits[0, -1]
    assert not torch.allclose(logits, other)

    answer = vlm.answer(task, Decoding(max_new_tokens=8))
    assert 0 < answer.n_tokens <= 8 and answer.finish in ("eos", "length") and answer.model == vlm.model_id


@pytest.mark.slow
def test_crop_task_places_its_images_in_the_question_and_is_answered_and_group_sampled(vlm, tasks):
    task = tasks["crop"]
    inputs = vlm.task_inputs(task)
    grid = inputs["image_grid_thw"]
    assert grid.shape == (5, 3)
    assert image_spans(vlm, inputs) == [int(n) // 4 for n in grid.prod(dim=1)]
    assert int(inputs["mm_token_type_ids"].sum()) == int(grid.prod(dim=1).sum()) // 4
    text = vlm.processor.tokenizer.decode(inputs["input_ids"][0])
    assert text.startswith("<|im_start|>user\nWhich image is the missing part in the first image <|vision_start|>")
    assert "select one of the four options <|vision_start|>" in text and "<image1>" not in text
    assert text.endswith(f"'C', and 'D'. {FORMAT_INSTRUCTION}<|im_end|>\n<|im_start|>assistant\n")

    answer = vlm.answer(task, Decoding(max_new_tokens=6))
    assert 0 < answer.n_tokens <= 6 and answer.finish in ("eos", "length")
    group = vlm.sample_group(task, decoding=Decoding(temperature=1.0, seed=5, max_new_tokens=6))
    assert len(group.answers) == 5 and len({answer.text for answer in group.answers}) > 1  # 5 x 5 images, batched
    for sampled in group.answers:
        assert sampled.reward == score(sampled.text, task.answer, task=task.task, options=task.options).overall
