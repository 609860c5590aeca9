"""Answerers and estimators: the Qwen-VL runner (Spatial-SSRL models), monocular depth, batch evaluation.

The runner is in parts: `hub` (which model, where its files are, whether it will load), `loading` (device,
attention, threads, the load-once cache), `decoding` (settings, reading answers, GRPO group maths),
`streaming` (running generate on a worker thread) and `runner` (the VLM that ties them together).

Lazy on purpose: importing this package imports neither torch nor transformers; a name is imported from
its module on first access (`from spatial_ssrl.models import load_model` imports the runner, which itself
imports torch only when a model is loaded).
"""

from __future__ import annotations

from spatial_ssrl.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "hub": ("DEFAULT_MODEL", "MODELS", "MODEL_ENV", "ModelUnavailable", "model_status", "resolve_model"),
    "loading": ("DEVICE_ENV", "spare_a_core", "unload"),
    "decoding": ("GROUP_SIZE", "GROUP_TEMPERATURE", "Decoding", "Generation", "Group", "GroupAnswer", "Parts",
                 "group_advantages", "split_response"),
    "streaming": ("Stream",),
    "runner": ("MIN_PIXELS", "MAX_PIXELS", "VLM", "load_model"),
    "depth_estimation": ("DEFAULT_DEPTH_MODEL", "DEPTH_MODEL_ENV", "DepthEstimator", "estimate_scene_depth",
                         "load_depth_estimator"),
    "evaluate": ("run_eval",),
    "zerogpu": ("gpu", "on_zero_gpu"),
})
