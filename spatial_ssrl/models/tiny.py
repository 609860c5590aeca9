"""Tiny randomly initialised models with the real architectures, built offline, for tests and smoke runs.

`save_tiny_vlm(dir)` writes a Qwen2.5-VL (a byte-level BPE tokenizer trained here with the Qwen special
tokens, the Qwen2-VL chat template, the Qwen2-VL image processor, a few-layer model), `save_tiny_vlm(dir,
arch="qwen3-vl")` the same for Qwen3-VL (its processor, 16-pixel patches, chat template and <think> tokens),
and `save_tiny_depth(dir)` a Depth Anything with a small Dinov2 backbone. All reload through the Auto classes
exactly like the released weights, so the loading path, processor and chat template are the real ones;
only the answers are noise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
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

#: The chat template Qwen3-VL ships, less tool calling: no default system turn; images as vision placeholders.
QWEN3_VL_CHAT_TEMPLATE = (
    "{% if messages[0].role == 'system' %}<|im_start|>system\n"
    "{% if messages[0].content is string %}{{ messages[0].content }}"
    "{% else %}{% for content in messages[0].content %}{% if 'text' in content %}{{ content.text }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endif %}"
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if message.role == 'user' or message.role == 'assistant' %}"
    "<|im_start|>{{ message.role }}\n"
    "{% if message.content is string %}{{ message.content }}{% else %}{% for content in message.content %}"
    "{% if message.role == 'user' and (content.type == 'image' or 'image' in content or 'image_url' in content) %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif message.role == 'user' and (content.type == 'video' or 'video' in content) %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content.text }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: Pixel bounds small enough for a fast CPU forward pass (about 4 to 16 merged image tokens per image: 28x28
#: pixels each for Qwen2.5-VL, 32x32 for Qwen3-VL).
TINY_MIN_PIXELS = 28 * 28 * 4
TINY_MAX_PIXELS = 28 * 28 * 16
#: BPE vocabulary size before the special tokens.
TINY_VOCAB = 384

#: The architecture `save_tiny_vlm` and `make-tiny-model` write unless told otherwise (see TINY_ARCHS).
DEFAULT_ARCH = "qwen2.5-vl"


@dataclass(frozen=True)
class TinyArch:
    """What differs between the tiny Qwen-VL architectures, as it differs between the released models:
    processor classes, patch size and image normalisation, chat template, extra tokens, config."""

    label: str
    processor: str  # a transformers class name, like video_processor
    video_processor: str
    patch_size: int
    image_mean: tuple[float, ...] | None  # None: the image processor's default (CLIP's)
    image_std: tuple[float, ...] | None
    chat_template: str
    added_tokens: tuple[str, ...]  # ordinary (non-special) tokens the released tokenizer adds
    config: Callable  # tokenizer -> model config


def tiny_tokenizer(vocab_size: int = TINY_VOCAB, added_tokens: tuple[str, ...] = ()):
    """A `Qwen2TokenizerFast`: byte-level BPE trained in-process on the task wording, plus the Qwen specials
    and `added_tokens` as ordinary added tokens (never stripped by decoding)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    from spatial_ssrl.tasks import FORMAT_INSTRUCTION

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
    tokenizer = Qwen2TokenizerFast(vocab=bpe.get_vocab(), merges=merges, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", errors="replace",
                                   additional_special_tokens=list(QWEN_SPECIAL_TOKENS[1:]), model_max_length=32768)
    tokenizer.add_tokens(list(added_tokens))
    return tokenizer


def qwen_processor(tokenizer, min_pixels: int = TINY_MIN_PIXELS, max_pixels: int = TINY_MAX_PIXELS, *,
                   arch: str = DEFAULT_ARCH):
    """The processor of `arch` around `tokenizer`, with the released chat template and image settings."""
    import transformers
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor

    spec = TINY_ARCHS[arch]
    normalise = {} if spec.image_mean is None else {"image_mean": list(spec.image_mean),
                                                    "image_std": list(spec.image_std)}
    images = Qwen2VLImageProcessor(size={"shortest_edge": min_pixels, "longest_edge": max_pixels},
                                   patch_size=spec.patch_size, **normalise)
    return getattr(transformers, spec.processor)(
        image_processor=images, video_processor=getattr(transformers, spec.video_processor)(), tokenizer=tokenizer,
        chat_template=spec.chat_template)


def qwen_token_ids(tokenizer) -> dict:
    """The config fields that name special tokens, for `tokenizer` (the released ids differ from ours)."""
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN_SPECIAL_TOKENS}
    return {"image_token_id": ids["<|image_pad|>"], "video_token_id": ids["<|video_pad|>"],
            "vision_start_token_id": ids["<|vision_start|>"], "vision_end_token_id": ids["<|vision_end|>"],
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"]}


def _tiny_text(ids: dict, vocab_size: int, rope: dict) -> dict:
    """The text decoder both tiny architectures share: two layers, hidden size 32, 4 heads of 8 (2 KV heads)."""
    return dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192, rope_parameters=rope,
                bos_token_id=ids["bos_token_id"], eos_token_id=ids["eos_token_id"], pad_token_id=ids["pad_token_id"])


def _vision_ids(ids: dict) -> dict:
    """The top-level config fields that place images in the text."""
    return {name: ids[name] for name in ("image_token_id", "video_token_id", "vision_start_token_id",
                                         "vision_end_token_id")}


def tiny_vlm_config(tokenizer):
    """A two-layer Qwen2.5-VL config (hidden size 32) sized to `tokenizer`."""
    from transformers import Qwen2_5_VLConfig

    ids = qwen_token_ids(tokenizer)
    text = _tiny_text(ids, len(tokenizer), {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [1, 1, 2]})
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32,
                  fullatt_block_indexes=[1], window_size=112, patch_size=14, spatial_merge_size=2,
                  temporal_patch_size=2)
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **_vision_ids(ids))


def tiny_qwen3_vl_config(tokenizer):
    """A two-layer Qwen3-VL config (hidden size 32) sized to `tokenizer`, with Qwen3-VL-4B's distinctive parts:
    16-pixel patches, interleaved M-RoPE, DeepStack features injected into the first decoder layers, learned
    position embeddings (an 8x8 grid, interpolated) and tied input/output embeddings."""
    from transformers import Qwen3VLConfig

    ids = qwen_token_ids(tokenizer)
    text = _tiny_text(ids, len(tokenizer), {"rope_type": "default", "rope_theta": 5e6, "mrope_section": [2, 1, 1],
                                            "mrope_interleaved": True})
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32, patch_size=16,
                  spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
                  deepstack_visual_indexes=[0, 1])
    return Qwen3VLConfig(text_config={**text, "head_dim": 8}, vision_config=vision, tie_word_embeddings=True,
                         **_vision_ids(ids))


#: `--arch` name -> architecture. Qwen3-VL's tokenizer has <think> and </think> as ordinary tokens, so
#: decoding with skip_special_tokens keeps them and the runner can split the thinking from the answer.
TINY_ARCHS = {
    "qwen2.5-vl": TinyArch("Qwen2.5-VL", "Qwen2_5_VLProcessor", "Qwen2VLVideoProcessor", 14, None, None,
                           QWEN2_VL_CHAT_TEMPLATE, (), tiny_vlm_config),
    "qwen3-vl": TinyArch("Qwen3-VL", "Qwen3VLProcessor", "Qwen3VLVideoProcessor", 16, (0.5, 0.5, 0.5),
                         (0.5, 0.5, 0.5), QWEN3_VL_CHAT_TEMPLATE, ("<think>", "</think>"), tiny_qwen3_vl_config),
}


def save_vlm(model, processor, out_dir: str | Path) -> Path:
    """Save model + processor so `AutoProcessor` / `AutoModelForImageTextToText.from_pretrained` reload them."""
    tokenizer = processor.tokenizer
    model.generation_config.eos_token_id = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.pad_token_id]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def save_tiny_vlm(out_dir: str | Path, *, arch: str = DEFAULT_ARCH, seed: int = 0) -> Path:
    """Write a tiny random `arch` (see TINY_ARCHS) with a trained tokenizer and the real processor to `out_dir`."""
    import torch
    from transformers import AutoModelForImageTextToText

    spec = TINY_ARCHS[arch]
    tokenizer = tiny_tokenizer(added_tokens=spec.added_tokens)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(spec.config(tokenizer))
    return save_vlm(model, qwen_processor(tokenizer, arch=arch), out_dir)


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
