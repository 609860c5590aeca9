"""What the model receives for a task, built once, the way training built it.

The released models were trained with EasyR1 on rows whose `problem` holds one `<image>` per image where
the image stands in the question. EasyR1 renders its format prompt (`{{ content | trim }} ` + the
instruction) over the problem, splits the result at `<image>` into text and image parts of one user
message, applies the chat template, and resizes each image with Pillow into [min_pixels, max_pixels]
before the processor (which then rounds to its patch grid). Everything here follows those steps, so the
runner, the evaluation, the app, the exporters and the trainers give the model the same input, image for
image and token for token (tests/test_prompt.py rebuilds EasyR1's steps and compares).
"""

from __future__ import annotations

import math
import re

from PIL import Image

from spatial_ssrl.tasks.record import FORMAT_INSTRUCTION, Task

#: The image placeholder of EasyR1, LLaMA-Factory and TRL-style prompts.
IMAGE_TOKEN = "<image>"
#: Image size bounds in pixels per image, as in training (512x512 to 2048x2048 worth of pixels).
MIN_PIXELS = 262_144
MAX_PIXELS = 4_194_304

_MARKER = re.compile(r"<image(\d+)>")


def problem_text(question: str, image_count: int) -> str:
    """The question with one `<image>` per image, in model order: `<image1>..<imageN>` markers become
    `<image>` where they stand; a question without markers gets its images first (single-image tasks)."""
    numbers = [int(number) for number in _MARKER.findall(question)]
    if not numbers:
        return IMAGE_TOKEN * image_count + question
    if numbers != list(range(1, image_count + 1)):
        raise ValueError(f"image markers {numbers} do not number the {image_count} images in order")
    return _MARKER.sub(IMAGE_TOKEN, question)


def format_prompt(problem: str, instruction: str = FORMAT_INSTRUCTION) -> str:
    """EasyR1's format prompt over a problem: trimmed, then one space and the instruction (none: as is)."""
    return f"{problem.strip()} {instruction}" if instruction else problem


def chat_messages(problem: str, instruction: str = FORMAT_INSTRUCTION) -> list[dict]:
    """A problem as one user message of text and image parts (the chat format of transformers' processors
    and TRL): the formatted prompt split at each `<image>`, the image in its place."""
    content = []
    for number, text in enumerate(format_prompt(problem, instruction).split(IMAGE_TOKEN)):
        if number:
            content.append({"type": "image"})
        if text:
            content.append({"type": "text", "text": text})
    return [{"role": "user", "content": content}]


def task_messages(task: Task, instruction: str = FORMAT_INSTRUCTION) -> list[dict]:
    """The chat messages of a generated task, its images placed where the question names them."""
    return chat_messages(problem_text(task.question, len(task.images)), instruction)


def fit_pixels(image: Image.Image, min_pixels: int | None = MIN_PIXELS, max_pixels: int | None = MAX_PIXELS
               ) -> Image.Image:
    """`image` resized into [min_pixels, max_pixels] as EasyR1 does before the processor (Pillow's default
    filter, sides truncated), in RGB: a 300x300 crop option becomes 512x512, as the model saw it in training."""
    if max_pixels is not None and image.width * image.height > max_pixels:
        factor = math.sqrt(max_pixels / (image.width * image.height))
        image = image.resize((int(image.width * factor), int(image.height * factor)))
    if min_pixels is not None and image.width * image.height < min_pixels:
        factor = math.sqrt(min_pixels / (image.width * image.height))
        image = image.resize((int(image.width * factor), int(image.height * factor)))
    return image if image.mode == "RGB" else image.convert("RGB")
