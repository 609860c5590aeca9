"""The Gradio UI of the Spatial-SSRL studio: layout and event handlers, thin over `spatial_ssrl`."""

from .layout import build_demo, launch_options
from .studio import Studio

__all__ = ["Studio", "build_demo", "launch_options"]
