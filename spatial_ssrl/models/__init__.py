"""Answerers and estimators: the Qwen-VL runner (Spatial-SSRL models), monocular depth, batch evaluation.

Lazy on purpose: importing this package imports neither torch nor transformers; a name is imported from
its module on first access (`from spatial_ssrl.models import load_model` imports the runner, which itself
imports torch only when a model is loaded).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "runner": ("DEFAULT_MODEL", "MODELS", "MODEL_ENV", "DEVICE_ENV", "MIN_PIXELS", "MAX_PIXELS", "GROUP_SIZE",
               "GROUP_TEMPERATURE", "ModelUnavailable", "Decoding", "Generation", "Group", "GroupAnswer", "Parts",
               "Stream", "VLM", "group_advantages", "load_model", "model_status", "resolve_model", "split_response",
               "unload"),
    "depth_estimation": ("DEFAULT_DEPTH_MODEL", "DEPTH_MODEL_ENV", "DepthEstimator", "estimate_scene_depth",
                         "load_depth_estimator"),
    "evaluate": ("run_eval",),
    "zerogpu": ("gpu", "on_zero_gpu"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
