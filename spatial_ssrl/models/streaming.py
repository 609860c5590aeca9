"""Running a loaded model's `generate`: streamed from a worker thread (`Stream`), or every sequence at once
(`generate_ids`, for groups).

transformers' TextIteratorStreamer hands text over as `generate` produces it, which needs `generate` on
another thread; the caller's thread iterates the Stream, can stop it from anywhere (a stopping criterion
checks an event after each token), and gets any error `generate` raised re-raised in its own thread.
Either way generation runs under the model's lock (one request at a time: generation already fills the
device, and a seeded sample is reproducible only when nothing else draws from the random generator
meanwhile), seeded, and on ZeroGPU asks for a GPU sized to the token budget.

The model is anything with `model`, `processor`, `lock`, `model_id` and `generation_config(decoding, n)`:
a `spatial_ssrl.models.runner.VLM`. torch and transformers are imported on first use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from spatial_ssrl.models.decoding import Decoding, Generation, Parts, split_response
from spatial_ssrl.models.zerogpu import gpu


class Stream:
    """Text chunks as the model generates them, from a worker thread.

    Iterate it (each item is the new text); `text` holds everything so far and `parts` splits it for
    display; `stop()` (from any thread) ends generation after the current token; `result()` waits for the
    end and returns the Generation. Leaving the loop early stops generation too.
    """

    def __init__(self, vlm, inputs, decoding: Decoding):
        self.vlm = vlm
        self.decoding = decoding
        self.text = ""
        self._stop = threading.Event()
        self._started = time.perf_counter()
        self._chunks = _stream_tokens(vlm, inputs, vlm.generation_config(decoding), decoding.seed, self._stop)
        self._generation: Generation | None = None

    def __iter__(self) -> Iterator[str]:
        try:
            for item in self._chunks:
                if self._take(item):
                    yield item
        finally:
            if self._generation is None:  # left early (or failed): stop, and collect what was generated
                self.stop()
                for item in self._chunks:
                    self._take(item)

    def _take(self, item) -> bool:
        """Record one item of the token stream; True when it is new text to pass on."""
        if isinstance(item, str):
            self.text += item
            return bool(item)
        self._generation = Generation(self.text, item["n_tokens"], time.perf_counter() - self._started,
                                      item["finish"], self.vlm.model_id, self.decoding)
        return False

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def parts(self) -> Parts:
        return split_response(self.text)

    def result(self) -> Generation:
        for _ in self:
            pass
        if self._generation is None:
            raise RuntimeError("the stream was closed before generation finished")
        return self._generation


def _gpu_seconds(vlm, inputs, config, *args) -> int:
    """ZeroGPU time to ask for: start-up plus the token budget at a conservative 25 tokens/s, capped at 5 min."""
    return int(min(300, 20 + config.max_new_tokens * (1 + 0.2 * (config.num_return_sequences - 1)) / 25))


def _stop_criteria(event: threading.Event):
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopOnEvent(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            import torch

            return torch.full((input_ids.shape[0],), event.is_set(), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopOnEvent()])


def _seed(seed: int | None) -> None:
    if seed is not None:
        import torch

        torch.manual_seed(seed)


@gpu(duration=_gpu_seconds)
def generate_ids(vlm, inputs, config, seed: int | None):
    """All sequences at once (prompt included), under the model's lock."""
    import torch

    with vlm.lock, torch.inference_mode():
        _seed(seed)
        return vlm.model.generate(**inputs, generation_config=config)


@gpu(duration=_gpu_seconds)
def _stream_tokens(vlm, inputs, config, seed: int | None, stop: threading.Event):
    """Yield text as `generate` produces it on a worker thread, then one dict with n_tokens and finish."""
    import torch
    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(vlm.processor.tokenizer, skip_prompt=True, skip_special_tokens=True)
    outcome: dict = {}

    def work():
        try:
            with vlm.lock, torch.inference_mode():
                _seed(seed)
                outcome["ids"] = vlm.model.generate(**inputs, generation_config=config, streamer=streamer,
                                                    stopping_criteria=_stop_criteria(stop))
        except BaseException as error:  # re-raised in the consumer's thread below
            outcome["error"] = error
            streamer.end()

    worker = threading.Thread(target=work, name="spatial-ssrl-generate", daemon=True)
    worker.start()
    try:
        yield from streamer
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
        n_tokens = int(outcome["ids"].shape[1] - inputs["input_ids"].shape[1])
        finish = "stopped" if stop.is_set() else "length" if n_tokens >= config.max_new_tokens else "eos"
        yield {"n_tokens": n_tokens, "finish": finish}
    finally:
        if worker.is_alive():  # the consumer left early
            stop.set()
            worker.join()
