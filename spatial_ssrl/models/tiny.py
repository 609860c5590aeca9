"""Tiny randomly initialised models with the real architectures, built offline, for tests and smoke runs.

`save_tiny_vlm(dir)` writes a Qwen2.5-VL (a byte-level BPE tokenizer trained here with the Qwen special
tokens, the Qwen2-VL chat template, the Qwen2-VL image processor, a few-layer model) and
`save_tiny_depth(dir)` a Depth Anything with a small Dinov2 backbone. Both reload through the Auto classes
exactly like the released weights, so the loading path, processor and chat template are the real ones;
only the answers are noise.
"""

from __future__ import annotations

import json
from pathlib import Path

#: Qwen2 / Qwen2.5-VL special tokens, in the order the released tokenizer numbers them.
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>",
)

#: The chat template Qwen2-VL and Qwen2.5-VL ship (a default system turn; images as vision placeholders).
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: Pixel bounds small enough for a fast CPU forward pass (4 to 16 merged 28x28 tokens per image).
TINY_MIN_PIXELS = 28 * 28 * 4
TINY_MAX_PIXELS = 28 * 28 * 16
#: BPE vocabulary size before the special tokens.
TINY_VOCAB = 384


def tiny_tokenizer(vocab_size: int = TINY_VOCAB):
    """A `Qwen2TokenizerFast`: byte-level BPE trained in-process on the task wording, plus the Qwen specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    from ..tasks import FORMAT_INSTRUCTION

    corpus = [FORMAT_INSTRUCTION, "<think> The patches 0-2-3-1 look aligned. </think> \\boxed{A}",
              "Which image is the missing part? Sort the depths of the three regions from smallest to largest.",
              "Left Right Front Back Top Middle Bottom 0 1 2 3 4 5 6 7 8 9 A B C D"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus * 4, trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    merges = [tuple(merge.split(" ")) if isinstance(merge, str) else tuple(merge)
              for merge in json.loads(bpe.to_str())["model"]["merges"]]
    return Qwen2TokenizerFast(vocab=bpe.get_vocab(), merges=merges, eos_token="<|im_end|>", pad_token="<|endoftext|>", errors="replace",
                              additional_special_tokens=list(QWEN_SPECIAL_TOKENS[1:]), model_max_length=32768)


def qwen_processor(tokenizer, min_pixels: int = TINY_MIN_PIXELS, max_pixels: int = TINY_MAX_PIXELS):
    """The Qwen2.5-VL processor around `tokenizer`, with the released chat template and image settings."""
    from transformers import Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
    return Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(size=size),
                               video_processor=Qwen2VLVideoProcessor(), tokenizer=tokenizer,
                               chat_template=QWEN2_VL_CHAT_TEMPLATE)


def qwen_token_ids(tokenizer) -> dict:
    """The config fields that name special tokens, for `tokenizer` (the released ids differ from ours)."""
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN_SPECIAL_TOKENS}
    return {"image_token_id": ids["<|image_pad|>"], "video_token_id": ids["<|video_pad|>"],
            "vision_start_token_id": ids["<|vision_start|>"], "vision_end_token_id": ids["<|vision_end|>"],
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"]}


def tiny_vlm_config(tokenizer):
    """A two-layer Qwen2.5-VL config (hidden size 32) sized to `tokenizer`."""
    from transformers import Qwen2_5_VLConfig

    ids = qwen_token_ids(tokenizer)
    text = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192,
                rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [1, 1, 2]},
                bos_token_id=ids["bos_token_id"], eos_token_id=ids["eos_token_id"], pad_token_id=ids["pad_token_id"])
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32,
                  fullatt_block_indexes=[1], window_size=112, patch_size=14, spatial_merge_size=2,
                  temporal_patch_size=2)
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **{
        name: ids[name] for name in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")})


def save_vlm(model, processor, out_dir: str | Path) -> Path:
    """Save model + processor so `AutoProcessor` / `AutoModelForImageTextToText.from_pretrained` reload them."""
    tokenizer = processor.tokenizer
    model.generation_config.eos_token_id = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.pad_token_id]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def save_tiny_vlm(out_dir: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny random Qwen2.5-VL with a trained tokenizer and the real processor to `out_dir`."""
    import torch
    from transformers import AutoModelForImageTextToText

    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(tiny_vlm_config(tokenizer))
    return save_vlm(model, qwen_processor(tokenizer), out_dir)


def tiny_depth_config(depth_estimation_type: str = "relative"):
    """A Depth Anything config with a two-layer Dinov2 backbone (hidden size 32)."""
    from transformers import DepthAnythingConfig, Dinov2Config

    backbone = Dinov2Config(image_size=56, patch_size=14, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            mlp_ratio=2, out_indices=[1, 2], reshape_hidden_states=False)
    return DepthAnythingConfig(backbone_config=backbone, patch_size=14, reassemble_hidden_size=32,
                               reassemble_factors=[2, 1], neck_hidden_sizes=[16, 32], fusion_hidden_size=16,
                               head_hidden_size=8, depth_estimation_type=depth_estimation_type,
                               max_depth=20 if depth_estimation_type == "metric" else 1)


def save_tiny_depth(out_dir: str | Path, *, depth_estimation_type: str = "relative", seed: int = 0) -> Path:
    """Write a tiny random Depth Anything and its image processor (Depth Anything V2's settings) to `out_dir`."""
    import torch
    from transformers import AutoModelForDepthEstimation
    from transformers.models.dpt.image_processing_dpt import DPTImageProcessor

    torch.manual_seed(seed)
    model = AutoModelForDepthEstimation.from_config(tiny_depth_config(depth_estimation_type))
    processor = DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14,
                                  resample=3, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
