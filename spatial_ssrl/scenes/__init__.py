"""Scene input, the lowest layer: an RGB image with optional aligned depth (`Scene`), validated where files
enter (`loaders`), paired from folders (`folders`), the shipped scenes (`assets`) and camera intrinsics
(`camera`). Imports nothing else of the project."""

from spatial_ssrl.scenes.loaders import load_depth, load_rgb, load_scene
from spatial_ssrl.scenes.scene import Scene, SceneError

__all__ = ["Scene", "SceneError", "load_depth", "load_rgb", "load_scene"]
