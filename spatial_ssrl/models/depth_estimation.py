"""Monocular depth for RGB-only photos, through transformers' depth estimation (Depth Anything V2 Small).

Estimators differ in what they predict. Relative Depth Anything and DPT/MiDaS predict *inverse* depth
(disparity-like, affine-invariant: larger = nearer); metric models (Depth Anything metric, ZoeDepth, GLPN,
Depth Pro) predict depth. The task generators need depth (larger = farther), so the kind is decided
explicitly per architecture (`output_kind`), never guessed from the values, and inverse depth is inverted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from spatial_ssrl.models.hub import from_pretrained, resolve_model
from spatial_ssrl.models.loading import cached, resolve_device
from spatial_ssrl.models.zerogpu import gpu
from spatial_ssrl.scenes.scene import Scene

DEFAULT_DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
DEPTH_MODEL_ENV = "SPATIAL_SSRL_DEPTH_MODEL"
#: What an architecture's `predicted_depth` is, by config model_type: "inverse" or "depth".
OUTPUT_KINDS = {"dpt": "inverse", "zoedepth": "depth", "glpn": "depth", "depth_pro": "depth",
                "prompt_depth_anything": "depth"}


def output_kind(config) -> str:
    """"inverse" or "depth" for a depth-estimation config; unknown architectures must be told (`output=`)."""
    if config.model_type == "depth_anything":
        return "inverse" if config.depth_estimation_type == "relative" else "depth"
    try:
        return OUTPUT_KINDS[config.model_type]
    except KeyError:
        raise ValueError(f"do not know whether a {config.model_type!r} model predicts depth or inverse depth; "
                         "pass output='depth' or output='inverse'") from None


def inverse_to_depth(inverse: np.ndarray) -> np.ndarray:
    """Depth-like values (larger = farther) from inverse depth: 1/x, NaN where x <= 0 (infinitely far: sky)."""
    inverse = np.asarray(inverse, dtype=np.float32)
    depth = np.full(inverse.shape, np.nan, dtype=np.float32)
    positive = np.isfinite(inverse) & (inverse > 0)
    depth[positive] = 1.0 / inverse[positive]
    return depth


@dataclass(eq=False)
class DepthEstimator:
    """A loaded depth-estimation model and its image processor. Get one from `load_depth_estimator`."""

    model_id: str
    model: Any
    processor: Any
    device: str
    output: str
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def origin(self) -> str:
        """The Scene.depth_origin of depth from this estimator."""
        return f"estimated:{self.model_id}"

    def raw(self, rgb: np.ndarray) -> np.ndarray:
        """The model's own prediction, resized to the image: (H, W) float32, depth or inverse depth."""
        return _predict(self, rgb)

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """Depth (larger = farther) for an (H, W, 3) uint8 image: (H, W) float32, NaN where unknown."""
        raw = self.raw(rgb)
        if self.output == "inverse":
            return inverse_to_depth(raw)
        return np.where(np.isfinite(raw) & (raw > 0), raw, np.nan).astype(np.float32)


def load_depth_estimator(model: str | None = None, *, device: str | None = None,
                         output: str | None = None) -> DepthEstimator:
    """The estimator (argument, else $SPATIAL_SSRL_DEPTH_MODEL, else Depth Anything V2 Small), loaded once.

    `output` ("depth" / "inverse") overrides what the architecture is known to predict. Raises
    ModelUnavailable when the weights cannot be found.
    """
    if output not in (None, "depth", "inverse"):
        raise ValueError(f"output must be 'depth' or 'inverse', got {output!r}")
    model_id = resolve_model(model, env=DEPTH_MODEL_ENV, default=DEFAULT_DEPTH_MODEL)
    device = resolve_device(device)
    estimator = cached("depth", model_id, device, lambda: _load(model_id, device))
    if output and output != estimator.output:
        estimator = DepthEstimator(estimator.model_id, estimator.model, estimator.processor, estimator.device,
                                   output, estimator.lock)
    return estimator


def estimate_scene_depth(scene: Scene, model: str | DepthEstimator | None = None, *,
                         device: str | None = None) -> Scene:
    """The scene with estimated depth (depth_origin "estimated:<model id>"), replacing any depth it had."""
    estimator = model if isinstance(model, DepthEstimator) else load_depth_estimator(model, device=device)
    return Scene(rgb=scene.rgb, depth=estimator.predict(scene.rgb), name=scene.name,
                 sources={**scene.sources, "depth": estimator.origin}, depth_origin=estimator.origin)


def _load(model_id: str, device: str) -> DepthEstimator:
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    flags = dict(env=DEPTH_MODEL_ENV, flag="--depth-model")
    processor = from_pretrained(AutoImageProcessor, model_id, **flags)
    model = from_pretrained(AutoModelForDepthEstimation, model_id, device_map=device, **flags)
    model.eval()
    return DepthEstimator(model_id, model, processor, device, output_kind(model.config))


@gpu(duration=30)
def _predict(estimator: DepthEstimator, rgb: np.ndarray) -> np.ndarray:
    import torch

    inputs = estimator.processor(images=Image.fromarray(rgb), return_tensors="pt").to(estimator.model.device)
    with estimator.lock, torch.inference_mode():
        outputs = estimator.model(**inputs)
    resized = estimator.processor.post_process_depth_estimation(outputs, target_sizes=[rgb.shape[:2]])
    return resized[0]["predicted_depth"].float().cpu().numpy()
