"""Putting models on a device, shared by the Qwen-VL runner and the depth estimator.

The device (argument, $SPATIAL_SSRL_DEVICE, else CUDA when there is a GPU), the attention implementation,
the CPU thread count, and a load-once cache: weights take seconds to minutes to load and gigabytes to hold,
so each (kind, model, device) is built once per process, one load at a time, and shared by every request
until `unload`. torch is imported inside the functions that need it, never at import time.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import threading
from typing import Any

#: Environment variable naming the device ("cuda", "cuda:1", "cpu").
DEVICE_ENV = "SPATIAL_SSRL_DEVICE"


def resolve_device(device: str | None = None) -> str:
    """The device: the argument, else $SPATIAL_SSRL_DEVICE, else CUDA when there is a GPU, else the CPU."""
    chosen = device or os.environ.get(DEVICE_ENV, "").strip()
    if chosen:
        return chosen
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def best_attention(device: str) -> str:
    """flash_attention_2 on a GPU where flash-attn is installed, else PyTorch's scaled-dot-product attention."""
    if device.startswith("cuda") and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def spare_a_core() -> int:
    """On the CPU, let torch use all cores but one (never more than it already uses) and return the count.

    Generation on the CPU otherwise takes every core, and in the app other visitors' task generation (numpy,
    Pillow) stalls for minutes behind it. Called when a model is loaded on the CPU; torch's thread count is
    per process, so this covers every model loaded afterwards too. Set OMP_NUM_THREADS lower to use fewer.
    """
    import torch

    from spatial_ssrl.cores import default_workers  # the cores this process may use

    threads = max(1, min(torch.get_num_threads(), default_workers() - 1))
    torch.set_num_threads(threads)
    return threads


_LOADED: dict[tuple[str, str, str], Any] = {}
_LOADING = threading.Lock()


def cached(kind: str, model_id: str, device: str, build):
    """The loaded object for (kind, model, device), built by `build()` once (one load at a time).

    A load on the CPU first leaves one core free for the rest of the process (`spare_a_core`)."""
    with _LOADING:
        key = (kind, model_id, device)
        if key not in _LOADED:
            if device == "cpu":
                spare_a_core()
            _LOADED[key] = build()
        return _LOADED[key]


def unload(model: str | None = None) -> None:
    """Forget loaded models and estimators (all, or those loaded from one id or folder) and free their memory."""
    with _LOADING:
        for key in [key for key in _LOADED if model is None or key[1] == model.strip()]:
            del _LOADED[key]
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
