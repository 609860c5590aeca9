"""`gpu(duration=...)`: `spaces.GPU` on a Hugging Face ZeroGPU Space, a no-op everywhere else.

ZeroGPU attaches a GPU only while a function decorated with `spaces.GPU` runs; `duration` (seconds, or a
callable taking the decorated function's arguments and returning seconds) is the most it may take, and a
shorter request is queued sooner. Elsewhere the `spaces` package is neither needed nor imported.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)

#: Set by Hugging Face on ZeroGPU hardware.
ZERO_GPU_ENV = "SPACES_ZERO_GPU"


def on_zero_gpu() -> bool:
    """True on a ZeroGPU Space with the `spaces` package installed."""
    flag = os.environ.get(ZERO_GPU_ENV, "").strip().lower()
    return flag not in ("", "0", "false", "no") and importlib.util.find_spec("spaces") is not None


def gpu(duration: int | float | Callable[..., float] = 60) -> Callable[[F], F]:
    """Decorate a function that needs the GPU: `spaces.GPU(duration=...)` on ZeroGPU, unchanged elsewhere."""
    if not on_zero_gpu():
        return lambda function: function
    import spaces

    return spaces.GPU(duration=duration)
