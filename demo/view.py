"""What a task puts on the page, by name: the visitor's current task (`Current`, kept in gr.State) and
`TaskView`, every output a new task sets, in the order `layout.py` wires them."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import gradio as gr

from spatial_ssrl.scenes.camera import Intrinsics
from spatial_ssrl.scenes.scene import Scene
from spatial_ssrl.tasks import Task


@dataclass
class Current:
    """A visitor's current task, with the scene it was made from (kept in gr.State)."""

    scene: Scene
    task: Task
    intrinsics: Intrinsics | None = None


@dataclass
class TaskView:
    """Every output of a new task. Answers, chat, scores and the soundness panel start cleared (they are
    per task; the panel names the answer, so it opens only on Reveal). `images` is what the "Model input"
    view draws (`files.model_view`); `depth_note` and `points_note` say why the Depth and 3D views are
    empty when the scene has no depth. `values()` is the wiring order (the seed stays last)."""

    current: Current | None
    images: dict | None = None
    question: str = ""
    status: str = ""
    overlay: str | None = None
    depth: str | None = None
    points: str | None = None
    depth_note: str = ""
    points_note: str = ""
    choice: Any = field(default_factory=lambda: gr.Radio(visible=False))
    text: Any = field(default_factory=lambda: gr.Textbox(visible=False))
    revealed: str = ""
    spec: Any = field(default_factory=lambda: gr.JSON(value=None, visible=False))
    link: str = ""
    chat: list = field(default_factory=list)
    reward: str = ""
    group_table: list = field(default_factory=list)
    group_summary: str = ""
    human: str = ""
    soundness_panel: Any = field(default_factory=lambda: gr.Accordion(visible=False))
    soundness: str = ""
    baselines: str = ""
    seed: int = 0

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The output names in wiring order (`layout.py` maps each to its component)."""
        return tuple(item.name for item in fields(cls))

    def values(self) -> tuple:
        """The outputs in wiring order, as Gradio takes them."""
        return tuple(getattr(self, name) for name in self.names())
