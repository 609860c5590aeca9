"""Inference speed: time to first token, decode tokens/s at batch 1 and peak memory, beside the bandwidth bound.

    python benchmarks/inference.py [--new-tokens 128] [--repeats 3] [--tasks shuffle crop] [--bandwidth-gbs N]

On a GPU: a Qwen2.5-VL with Qwen2.5-VL-3B's published architecture (`QWEN25_VL_3B` below) and random
weights, in bf16 with the best attention available, answering generated tasks from the DIODE sample at
the training pixel bounds, with a fixed number of new tokens (end-of-sequence suppressed). Decoding one
token reads every language-model weight once, so tokens/s <= memory bandwidth / weight bytes (the KV cache
of a short prompt adds under 1%): the table shows that bound and how close the run gets.
On CPU: the tiny random model from `spatial_ssrl.models.tiny`, loaded through the real loading path:
plumbing only, its figures say nothing about the real model's speed.

TTFT runs from calling `generate` on prepared inputs to the first new token (vision encoder + prefill);
preprocessing (resize, chat template, tokenizer) is timed separately. Medians over --repeats after a warm-up.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spatial_ssrl.scenes.loaders import load_scene  # noqa: E402
from spatial_ssrl.tasks import generate  # noqa: E402

SAMPLES = Path(os.environ.get("SPATIAL_SSRL_OFFICIAL_SAMPLES", ROOT.parent / "shared" / "data" / "official_samples"))
IMAGE = "RGB-D_img3.png"

#: Qwen2.5-VL-3B-Instruct's config.json (architecture only; token ids come from the tokenizer used here).
QWEN25_VL_3B = {
    "text_config": dict(vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                        num_attention_heads=16, num_key_value_heads=2, max_position_embeddings=128000,
                        rms_norm_eps=1e-6, hidden_act="silu", use_sliding_window=False, sliding_window=32768,
                        max_window_layers=70,
                        rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]}),
    "vision_config": dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048,
                          patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                          fullatt_block_indexes=[7, 15, 23, 31], tokens_per_second=2, hidden_act="silu"),
    "tie_word_embeddings": True,
}

#: Peak memory bandwidth in GB/s by GPU name (datasheet figures), for the bound.
BANDWIDTH_GBS = {"H200": 4800, "H100 NVL": 3900, "H100 PCIe": 2000, "H100": 3350, "A100-SXM4-80GB": 2039,
                 "A100 80GB PCIe": 1935, "A100": 1555, "L40S": 864, "L4": 300, "A10G": 600, "A10": 600,
                 "T4": 320, "RTX 4090": 1008, "RTX 3090": 936}


class Clock:
    """A streamer that only timestamps tokens (the first `put` is the prompt); `.cpu()` waits for the GPU."""

    def __init__(self):
        self.times: list[float] = []
        self.prompt_seen = False

    def put(self, value):
        value.cpu()
        if self.prompt_seen:
            self.times.append(time.perf_counter())
        self.prompt_seen = True

    def end(self):
        pass


def random_3b(device: str):
    """Qwen2.5-VL-3B's architecture with random bf16 weights on `device`, wrapped as the runner's VLM."""
    import torch
    from transformers import AutoModelForImageTextToText, Qwen2_5_VLConfig

    from spatial_ssrl.models.loading import best_attention
    from spatial_ssrl.models.runner import MAX_PIXELS, MIN_PIXELS, VLM
    from spatial_ssrl.models.tiny import qwen_processor, qwen_token_ids, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    ids = qwen_token_ids(tokenizer)
    text = dict(QWEN25_VL_3B["text_config"], **{k: ids[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id")})
    config = Qwen2_5_VLConfig(text_config=text, vision_config=QWEN25_VL_3B["vision_config"],
                              tie_word_embeddings=QWEN25_VL_3B["tie_word_embeddings"],
                              **{k: ids[k] for k in ("image_token_id", "video_token_id", "vision_start_token_id",
                                                     "vision_end_token_id")})
    attention = best_attention(device)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16, attn_implementation=attention)
    model.eval()
    model.generation_config.eos_token_id = ids["eos_token_id"]
    model.generation_config.pad_token_id = ids["pad_token_id"]
    return VLM("random weights, Qwen2.5-VL-3B architecture", model, qwen_processor(tokenizer, MIN_PIXELS, MAX_PIXELS),
               device, attention)


def tiny_cpu(folder: Path):
    from spatial_ssrl.models.runner import load_model
    from spatial_ssrl.models.tiny import save_tiny_vlm

    vlm = load_model(str(save_tiny_vlm(folder)), device="cpu")
    vlm.model_id = "tiny random Qwen2.5-VL (plumbing only)"
    return vlm


def language_model_bytes(model) -> int:
    """Bytes of the weights one decode step reads: everything but the vision tower (tied embeddings once)."""
    return sum(p.numel() * p.element_size() for name, p in model.named_parameters() if "visual" not in name)


def bandwidth(device: str, override: float | None) -> float | None:
    if override:
        return override
    if not device.startswith("cuda"):
        return None
    import torch

    name = torch.cuda.get_device_name(device)
    return next((value for key, value in BANDWIDTH_GBS.items() if key in name), None)


def measure(vlm, task, new_tokens: int, repeats: int) -> dict:
    import torch

    from spatial_ssrl.models.decoding import Decoding

    on_gpu = vlm.device.startswith("cuda")
    config = vlm.generation_config(Decoding(max_new_tokens=new_tokens))
    config.min_new_tokens = new_tokens
    runs = []
    for repeat in range(repeats + 1):  # the first run warms up kernels and allocators
        if on_gpu:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        inputs = vlm.task_inputs(task)
        prepared = time.perf_counter()
        clock = Clock()
        with torch.inference_mode():
            output = vlm.model.generate(**inputs, generation_config=config, streamer=clock)
        assert output.shape[1] - inputs["input_ids"].shape[1] == new_tokens == len(clock.times)
        if repeat:
            runs.append({"prep": prepared - start, "ttft": clock.times[0] - prepared,
                         "decode": (new_tokens - 1) / (clock.times[-1] - clock.times[0])})
    peak = (torch.cuda.max_memory_allocated() if on_gpu
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"prompt_tokens": int(inputs["input_ids"].shape[1]),
            **{key: statistics.median(run[key] for run in runs) for key in ("prep", "ttft", "decode")},
            "peak_gib": peak / 2**30}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tasks", nargs="+", default=["shuffle", "crop"])
    parser.add_argument("--device", default=None, help="cuda / cpu (default: cuda when there is a GPU)")
    parser.add_argument("--bandwidth-gbs", type=float, default=None, help="memory bandwidth for the bound")
    args = parser.parse_args()

    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    scene = load_scene(SAMPLES / IMAGE, name="diode")
    with tempfile.TemporaryDirectory() as folder:
        vlm = random_3b(device) if device.startswith("cuda") else tiny_cpu(Path(folder) / "tiny")
        weights = language_model_bytes(vlm.model)
        gbs = bandwidth(device, args.bandwidth_gbs)
        bound = gbs * 1e9 / weights if gbs else None
        hardware = torch.cuda.get_device_name(device) if device.startswith("cuda") else f"CPU ({os.cpu_count()} cores)"
        print(f"model: {vlm.model_id}; {sum(p.numel() for p in vlm.model.parameters()) / 1e6:,.1f} M parameters, "
              f"language-model weights {weights / 1e6:,.1f} MB read per token; {vlm.describe()['dtype']}, "
              f"{vlm.attention}; pixels per image {vlm.min_pixels:,} to {vlm.max_pixels:,}")
        print(f"device: {hardware}; bandwidth bound: "
              + (f"{gbs:.0f} GB/s / {weights / 1e9:.2f} GB = {bound:.1f} tokens/s" if bound else "n/a"))
        header = ("task", "images", "prompt tok", "new tok", "prep ms", "TTFT ms", "decode tok/s", "bound tok/s",
                  "% of bound", "peak GiB")
        rows = []
        for name in args.tasks:
            task = generate(scene, name, seed=0)
            if not task.ok:
                print(f"{name}: no valid task on this scene: {task.reason}")
                continue
            result = measure(vlm, task, args.new_tokens, args.repeats)
            rows.append((name, len(task.images), result["prompt_tokens"], args.new_tokens,
                         f"{result['prep'] * 1e3:.0f}", f"{result['ttft'] * 1e3:.0f}", f"{result['decode']:.1f}",
                         f"{bound:.1f}" if bound else "n/a",
                         f"{100 * result['decode'] / bound:.0f}%" if bound else "n/a", f"{result['peak_gib']:.2f}"))
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, ["-" * width for width in widths], *rows]:
            print("  ".join(str(cell).rjust(width) for cell, width in zip(row, widths)))
        if not device.startswith("cuda"):
            print("CPU run: the tiny random model, for plumbing only (peak = whole-process RSS); "
                  "run on a GPU for the real architecture's figures.")


if __name__ == "__main__":
    main()
