"""The Qwen-VL runner: load a Spatial-SSRL model once, then answer tasks whole, streamed, or as a GRPO group.

`VLM` ties the parts together: where the weights come from (`hub`), how they are put on a device and
kept loaded (`loading`), the decoding settings and how answers are read and scored (`decoding`), and
running `generate` (`streaming`). What is left here is the model itself: `load_model`, the model inputs
for a task (built as training built them: `tasks.prompt`), and the three ways to answer.

torch and transformers are imported when a model is loaded, never at import time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any

from spatial_ssrl.models.decoding import (
    GROUP_SIZE,
    GROUP_TEMPERATURE,
    Decoding,
    Generation,
    Group,
    generation_config,
    score_group,
)
from spatial_ssrl.models.hub import from_pretrained, resolve_model
from spatial_ssrl.models.loading import best_attention, cached, resolve_device
from spatial_ssrl.models.streaming import Stream, generate_ids
from spatial_ssrl.tasks import FORMAT_INSTRUCTION
from spatial_ssrl.tasks.prompt import (
    IMAGE_TOKEN,
    MAX_PIXELS,  # noqa: F401 (re-exported: the runner's default bounds)
    MIN_PIXELS,  # noqa: F401
    chat_messages,
    fit_pixels,
    task_messages,
)


@dataclass(eq=False)
class VLM:
    """A loaded Qwen-VL model and its processor. Get one from `load_model` (cached), or build one around a
    model you constructed yourself (benchmarks)."""

    model_id: str
    model: Any
    processor: Any
    device: str
    attention: str
    min_pixels: int = MIN_PIXELS
    max_pixels: int = MAX_PIXELS
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def describe(self) -> dict:
        """What is running, for display: id, device, dtype, attention, pixel bounds."""
        return {"model": self.model_id, "device": self.device, "dtype": str(self.model.dtype).replace("torch.", ""),
                "attention": self.attention, "min_pixels": self.min_pixels, "max_pixels": self.max_pixels}

    def inputs(self, messages: list[dict] | str, images) -> Any:
        """Model inputs for one user turn as training built them: `messages` (chat messages with an image
        part where each image stands; a plain prompt puts the images first) through the chat template, and
        the images resized into [min_pixels, max_pixels] with Pillow before the processor (`tasks.prompt`)."""
        images = [fit_pixels(image, self.min_pixels, self.max_pixels) for image in images]
        if isinstance(messages, str):
            messages = chat_messages(IMAGE_TOKEN * len(images) + messages, instruction="")
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        batch = self.processor(images=images or None, text=[text], add_special_tokens=False, return_tensors="pt")
        return batch.to(self.model.device)

    def task_inputs(self, task, instruction: str = FORMAT_INSTRUCTION) -> Any:
        """Model inputs for a generated task: its chat messages (images in place, then the instruction)."""
        if not getattr(task, "ok", False):
            raise ValueError(f"no task to answer: {getattr(task, 'reason', task)}")
        return self.inputs(task_messages(task, instruction), task.images)

    def generation_config(self, decoding: Decoding, n: int = 1):
        """The model's generation config (for its end tokens) with our decoding choices forced."""
        return generation_config(self.model.generation_config, decoding, n,
                                 pad_token_id=self.processor.tokenizer.pad_token_id)

    def stream(self, task, decoding: Decoding = Decoding(), *, instruction: str = FORMAT_INSTRUCTION) -> Stream:
        """Start answering `task`; iterate the returned Stream for text as it is generated, `stop()` to end early."""
        return Stream(self, self.task_inputs(task, instruction), decoding)

    def answer(self, task, decoding: Decoding = Decoding(), *, instruction: str = FORMAT_INSTRUCTION) -> Generation:
        """Answer `task` and wait for the whole response."""
        return self.stream(task, decoding, instruction=instruction).result()

    def sample_group(self, task, n: int = GROUP_SIZE, decoding: Decoding = Decoding(temperature=GROUP_TEMPERATURE),
                     *, mode: str = "strict", instruction: str = FORMAT_INSTRUCTION) -> Group:
        """n sampled answers (one batched generate), each scored by the verifier, with GRPO advantages."""
        if n < 1:
            raise ValueError(f"a group needs n >= 1 answers, got {n}")
        if decoding.greedy:
            raise ValueError("group sampling needs temperature > 0 (greedy answers would all be the same)")
        inputs = self.task_inputs(task, instruction)
        ids = generate_ids(self, inputs, self.generation_config(decoding, n), decoding.seed)
        texts = self.processor.batch_decode(ids[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        return score_group(texts, task, decoding, mode)


def load_model(model: str | None = None, *, device: str | None = None, min_pixels: int = MIN_PIXELS,
               max_pixels: int = MAX_PIXELS) -> VLM:
    """The model (hub id or folder; see `hub.resolve_model`), loaded on first use and cached per device.

    Raises ModelUnavailable when the weights cannot be found. Different pixel bounds share the loaded weights.
    """
    if not 0 < min_pixels <= max_pixels:
        raise ValueError(f"need 0 < min_pixels <= max_pixels, got {min_pixels} and {max_pixels}")
    model_id, device = resolve_model(model), resolve_device(device)
    loaded = cached("vlm", model_id, device, lambda: _load(model_id, device))
    return replace(loaded, min_pixels=min_pixels, max_pixels=max_pixels)


def _load(model_id: str, device: str) -> VLM:
    """Processor and weights through the Auto classes: bf16 on a GPU, float32 on the CPU, the best attention."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    on_gpu = device.startswith("cuda")
    attention = best_attention(device)
    processor = from_pretrained(AutoProcessor, model_id)
    model = from_pretrained(AutoModelForImageTextToText, model_id, dtype=torch.bfloat16 if on_gpu else torch.float32,
                            attn_implementation=attention, device_map=device)
    model.eval()
    return VLM(model_id=model_id, model=model, processor=processor, device=device, attention=attention)
