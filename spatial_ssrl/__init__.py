"""Spatial-SSRL studio: the five verifiable spatial pretext tasks from ordinary RGB / RGB-D images.

Importing the package is cheap: it never imports torch, transformers or gradio.
"""

__version__ = "0.1.0"
