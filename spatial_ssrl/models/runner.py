"""The Qwen-VL runner: load a Spatial-SSRL model once, then answer tasks whole, streamed, or as a GRPO group.

torch and transformers are imported on first use, never at import time, so the helpers that need no model
(`split_response`, `group_advantages`, `resolve_model`, `ModelUnavailable`) are cheap to import.

One model answers one request at a time (a lock per loaded model): generation already fills the device,
and a seeded sample is reproducible only when no other request draws from the random generator meanwhile.
"""

from __future__ import annotations

import copy
import gc
import importlib.util
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from spatial_ssrl.models.zerogpu import gpu
from spatial_ssrl.reward.verify import THINK_CLOSE, THINK_OPEN, score
from spatial_ssrl.tasks import FORMAT_INSTRUCTION

#: The trained model the studio runs unless told otherwise.
DEFAULT_MODEL = "internlm/Spatial-SSRL-3B"
#: Known models: hub id -> what it is. Any other hub id or local folder of a Qwen-VL model also works.
MODELS = {
    "internlm/Spatial-SSRL-3B": "Spatial-SSRL-3B: Qwen2.5-VL-3B trained with the five pretext tasks (default)",
    "internlm/Spatial-SSRL-7B": "Spatial-SSRL-7B: Qwen2.5-VL-7B trained with the five pretext tasks",
    "Qwen/Qwen2.5-VL-3B-Instruct": "Qwen2.5-VL-3B-Instruct: the base model Spatial-SSRL-3B started from",
    "internlm/Spatial-SSRL-Qwen3VL-4B": "Spatial-SSRL-Qwen3VL-4B: Qwen3-VL-4B trained with the five pretext tasks",
}
#: Environment variables: the model (hub id or folder) and the device ("cuda", "cuda:1", "cpu").
MODEL_ENV = "SPATIAL_SSRL_MODEL"
DEVICE_ENV = "SPATIAL_SSRL_DEVICE"
#: Image size bounds, in pixels per image, used in training (512x512 to 2048x2048 worth of pixels).
MIN_PIXELS = 262_144
MAX_PIXELS = 4_194_304
#: The training rollout setting for group sampling (GRPO, 5 rollouts per prompt at temperature 1.0).
GROUP_SIZE = 5
GROUP_TEMPERATURE = 1.0
#: Added to the group standard deviation, as EasyR1 / verl do.
ADVANTAGE_EPS = 1e-6


class ModelUnavailable(OSError):
    """The weights cannot be loaded (offline and not cached, or no such folder); the message says what to do."""


# ----------------------------------------------------------------------------------------------------------
# Choosing and loading a model


def resolve_model(model: str | None = None, *, env: str = MODEL_ENV, default: str = DEFAULT_MODEL) -> str:
    """The model to use: the argument, else the environment variable (`$SPATIAL_SSRL_MODEL`), else the default."""
    return (model or os.environ.get(env, "") or default).strip()


def resolve_device(device: str | None = None) -> str:
    """The device: the argument, else $SPATIAL_SSRL_DEVICE, else CUDA when there is a GPU, else the CPU."""
    chosen = device or os.environ.get(DEVICE_ENV, "").strip()
    if chosen:
        return chosen
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def best_attention(device: str) -> str:
    """flash_attention_2 on a GPU where flash-attn is installed, else PyTorch's scaled-dot-product attention."""
    if device.startswith("cuda") and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (tests and apps may change HF_HOME late)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) asks not to touch the network."""
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def looks_like_path(model_id: str) -> bool:
    """A name that can only be a folder (absolute, relative with ./ or ../, ~, or more than one '/')."""
    return (os.path.isabs(model_id) or model_id.startswith(("./", "../", "~", ".\\")) or "\\" in model_id
            or model_id.count("/") > 1 or model_id in (".", ".."))


#: The file every `save_pretrained` folder and hub snapshot of a model holds.
CONFIG_FILE = "config.json"


def model_status(model: str | None = None, *, env: str = MODEL_ENV, default: str = DEFAULT_MODEL) -> dict:
    """Whether `model` will load, found without loading it or touching the network, by `from_pretrained`'s
    rules: an existing folder is used as is (ready when it holds a config.json), a name that can only be a
    path and is not a folder cannot load, anything else is a hub id, ready when the Hugging Face cache has a
    snapshot of it (resolved as the loader resolves it), else downloaded on first use unless offline.

    Returns {"model", "source" ("folder" or "hub"), "path" (the folder or cache entry looked at),
    "installed" (torch and transformers importable), "on_disk", "will_download", "ready" (on disk and
    installed: loads without network), "reason" (why not ready; "" when ready)}. So apps and CLIs share
    one rule with the loader instead of guessing at the cache layout themselves.
    """
    model_id = resolve_model(model, env=env, default=default)
    folder = Path(model_id).expanduser()
    will_download = False
    if folder.is_dir():
        source, path, on_disk = "folder", folder.resolve(), (folder / CONFIG_FILE).is_file()
        reason = "" if on_disk else f"the folder {path} has no {CONFIG_FILE}: it was not written by save_pretrained"
    elif looks_like_path(model_id):
        source, path, on_disk = "folder", folder.resolve(), False
        reason = f"there is no folder {path}"
    else:
        source, path = "hub", hub_cache_dir() / ("models--" + model_id.replace("/", "--"))
        on_disk = _hub_cached(model_id)
        will_download = not on_disk and not hub_offline()
        reason = "" if on_disk else (f"it is not in the Hugging Face cache at {path}"
                                     + (": the first use downloads it from the Hugging Face Hub, if this machine "
                                        "can reach it" if will_download
                                        else ", and HF_HUB_OFFLINE forbids downloading it"))
    installed = all(importlib.util.find_spec(name) is not None for name in ("torch", "transformers"))
    if on_disk and not installed:
        reason = "PyTorch and transformers are not installed"
    return {"model": model_id, "source": source, "path": str(path), "installed": installed, "on_disk": on_disk,
            "will_download": will_download, "ready": on_disk and installed, "reason": reason}


def _hub_cached(model_id: str) -> bool:
    """True when the cache holds the config of the revision the loader would use (the `main` ref)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # no hub client: nothing can load from the hub either
        return False
    found = try_to_load_from_cache(model_id, CONFIG_FILE, cache_dir=str(hub_cache_dir()))
    return isinstance(found, str)


def spare_a_core() -> int:
    """On the CPU, let torch use all cores but one (never more than it already uses) and return the count.

    Generation on the CPU otherwise takes every core, and in the app other visitors' task generation (numpy,
    Pillow) stalls for minutes behind it. Called when a model is loaded on the CPU; torch's thread count is
    per process, so this covers every model loaded afterwards too. Set OMP_NUM_THREADS lower to use fewer.
    """
    import torch

    from spatial_ssrl.cores import default_workers  # the cores this process may use

    threads = max(1, min(torch.get_num_threads(), default_workers() - 1))
    torch.set_num_threads(threads)
    return threads


def from_pretrained(auto_class, model_id: str, *, env: str = MODEL_ENV, flag: str = "--model", **kwargs):
    """`auto_class.from_pretrained` for a local folder or a hub id; 'cannot find it' becomes ModelUnavailable."""
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        source = str(folder)
    elif looks_like_path(model_id):
        raise unavailable(model_id, None, env=env, flag=flag)
    else:
        source = model_id
        kwargs.setdefault("cache_dir", str(hub_cache_dir()))
        if hub_offline():
            kwargs["local_files_only"] = True
    try:
        return auto_class.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as error:
        raise unavailable(model_id, error, env=env, flag=flag) from error


def unavailable(model_id: str, error: Exception | None, *, env: str = MODEL_ENV,
                flag: str = "--model") -> ModelUnavailable:
    """A ModelUnavailable that says which model, where it was looked for, and how to point at a folder."""
    folder = Path(model_id).expanduser().resolve()
    lines = [f"Model {model_id!r} is not available."]
    if looks_like_path(model_id) or folder.is_dir():
        lines.append(f"Looked for a local folder at {folder}: "
                     + ("it holds no loadable model." if folder.is_dir() else "there is no such folder."))
        lines.append(f"Pass a folder written by save_pretrained (config.json, weights, processor files) with "
                     f"`{flag} DIR` or {env}=DIR, or a hub id such as {DEFAULT_MODEL}.")
    else:
        cached = hub_cache_dir() / ("models--" + model_id.replace("/", "--"))
        lines.append(f"Looked for a local folder at {folder}: none.")
        lines.append(f"Looked in the Hugging Face cache at {cached}: "
                     + ("an incomplete copy." if cached.is_dir() else "no copy."))
        lines.append("The hub was not contacted (HF_HUB_OFFLINE is set)." if hub_offline()
                     else "Downloading from the Hugging Face hub failed.")
        lines.append(f"To use a copy on disk: where there is network, `hf download {model_id} --local-dir DIR`; "
                     f"copy DIR here, then pass `{flag} DIR` or set {env}=DIR.")
    if error is not None and str(error).strip():
        lines.append(f"(cause: {type(error).__name__}: {str(error).strip().splitlines()[0]})")
    return ModelUnavailable("\n".join(lines))


_LOADED: dict[tuple[str, str, str], Any] = {}
_LOADING = threading.Lock()


def cached(kind: str, model_id: str, device: str, build):
    """The loaded object for (kind, model, device), built by `build()` once (one load at a time).

    A load on the CPU first leaves one core free for the rest of the process (`spare_a_core`)."""
    with _LOADING:
        key = (kind, model_id, device)
        if key not in _LOADED:
            if device == "cpu":
                spare_a_core()
            _LOADED[key] = build()
        return _LOADED[key]


def load_model(model: str | None = None, *, device: str | None = None, min_pixels: int = MIN_PIXELS,
               max_pixels: int = MAX_PIXELS) -> VLM:
    """The model (hub id or folder; see `resolve_model`), loaded on first use and cached per device.

    Raises ModelUnavailable when the weights cannot be found. Different pixel bounds share the loaded weights.
    """
    if not 0 < min_pixels <= max_pixels:
        raise ValueError(f"need 0 < min_pixels <= max_pixels, got {min_pixels} and {max_pixels}")
    model_id, device = resolve_model(model), resolve_device(device)
    loaded = cached("vlm", model_id, device, lambda: _load(model_id, device))
    return replace(loaded, min_pixels=min_pixels, max_pixels=max_pixels)


def unload(model: str | None = None) -> None:
    """Forget loaded models and estimators (all, or those loaded from one id or folder) and free their memory."""
    with _LOADING:
        for key in [key for key in _LOADED if model is None or key[1] == model.strip()]:
            del _LOADED[key]
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _load(model_id: str, device: str) -> VLM:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    on_gpu = device.startswith("cuda")
    attention = best_attention(device)
    processor = from_pretrained(AutoProcessor, model_id)
    model = from_pretrained(AutoModelForImageTextToText, model_id, dtype=torch.bfloat16 if on_gpu else torch.float32,
                            attn_implementation=attention, device_map=device)
    model.eval()
    return VLM(model_id=model_id, model=model, processor=processor, device=device, attention=attention)


# ----------------------------------------------------------------------------------------------------------
# Decoding settings and results


@dataclass(frozen=True)
class Decoding:
    """How to pick tokens: greedy when temperature is 0, else sampling with temperature and nucleus top_p.

    `seed` makes a sample reproducible (same model, device and inputs). Repetition penalty and top-k are off,
    whatever the model's generation_config says, so sampling matches the training rollouts.
    """

    max_new_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class Parts:
    """A response split for display: the thinking, the final answer, and whether </think> was reached."""

    thinking: str
    answer: str
    thinking_closed: bool


#: A tag cut off at the end of streamed text ("<", "</th", "<think"): held back until it completes.
_PARTIAL_TAG = re.compile(r"<\s*/?\s*(t(h(i(n(k\s*)?)?)?)?)?$")


def split_response(text: str) -> Parts:
    """Split a response, complete or still streaming, into thinking (inside <think>) and the answer after it.

    Text with no <think> tag is all answer. A tag still being streamed is not shown as text.
    """
    opened = THINK_OPEN.search(text)
    start = opened.end() if opened else 0
    closed = THINK_CLOSE.search(text, start)
    if closed:
        return Parts(text[start:closed.start()].strip(), _PARTIAL_TAG.sub("", text[closed.end():]).strip(), True)
    if opened:
        return Parts(_PARTIAL_TAG.sub("", text[start:]).strip(), "", False)
    return Parts("", _PARTIAL_TAG.sub("", text).strip(), False)


@dataclass
class Generation:
    """One finished answer: the text, how it ended ("eos", "length" or "stopped"), tokens and time."""

    text: str
    n_tokens: int
    seconds: float
    finish: str
    model: str
    decoding: Decoding

    @property
    def parts(self) -> Parts:
        return split_response(self.text)

    @property
    def tokens_per_second(self) -> float:
        return self.n_tokens / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {"text": self.text, "n_tokens": self.n_tokens, "seconds": self.seconds, "finish": self.finish,
                "model": self.model, "decoding": asdict(self.decoding)}


def group_advantages(rewards) -> tuple[list[float], float, float, bool]:
    """GRPO advantages (r - mean) / (std + eps), std with Bessel's correction as in EasyR1 / verl.

    Returns (advantages, mean, std, no_signal). When every reward is equal the group carries no learning
    signal: the advantages are all 0 (never 0/0), and no_signal is True.
    """
    values = np.asarray(list(rewards), dtype=np.float64)
    if values.size == 0:
        raise ValueError("a group needs at least one reward")
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    no_signal = bool(np.all(values == values[0]))
    advantages = np.zeros_like(values) if no_signal else (values - mean) / (std + ADVANTAGE_EPS)
    return [float(value) for value in advantages], mean, std, no_signal


@dataclass
class GroupAnswer:
    """One sampled answer of a group, its verifier score (a `spatial_ssrl.reward.verify.Score`) and its advantage."""

    text: str
    score: Any
    advantage: float

    @property
    def reward(self) -> float:
        return self.score.overall

    def to_dict(self) -> dict:
        return {"text": self.text, "reward": self.reward, "advantage": self.advantage, "score": self.score.to_dict()}


@dataclass
class Group:
    """n answers to one task at the training setting, as GRPO sees them."""

    answers: list[GroupAnswer]
    mean: float
    std: float
    no_signal: bool
    mode: str
    decoding: Decoding

    @property
    def rewards(self) -> list[float]:
        return [answer.reward for answer in self.answers]

    def to_dict(self) -> dict:
        return {"answers": [answer.to_dict() for answer in self.answers], "mean": self.mean, "std": self.std,
                "no_signal": self.no_signal, "mode": self.mode, "decoding": asdict(self.decoding)}


# ----------------------------------------------------------------------------------------------------------
# The loaded model


@dataclass(eq=False)
class VLM:
    """A loaded Qwen-VL model and its processor. Get one from `load_model` (cached), or build one around a
    model you constructed yourself (benchmarks)."""

    model_id: str
    model: Any
    processor: Any
    device: str
    attention: str
    min_pixels: int = MIN_PIXELS
    max_pixels: int = MAX_PIXELS
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def describe(self) -> dict:
        """What is running, for display: id, device, dtype, attention, pixel bounds."""
        return {"model": self.model_id, "device": self.device, "dtype": str(self.model.dtype).replace("torch.", ""),
                "attention": self.attention, "min_pixels": self.min_pixels, "max_pixels": self.max_pixels}

    def inputs(self, prompt: str, images) -> Any:
        """Model inputs for one user turn: the images (in order), then the prompt, through the chat template."""
        images = list(images)
        messages = [{"role": "user", "content": [*({"type": "image"} for _ in images), {"type": "text", "text": prompt}]}]
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        size = {"shortest_edge": self.min_pixels, "longest_edge": self.max_pixels}
        batch = self.processor(text=[text], images=images or None, size=size, return_tensors="pt")
        return batch.to(self.model.device)

    def task_inputs(self, task, instruction: str = FORMAT_INSTRUCTION) -> Any:
        """Model inputs for a generated task: its images and `task.prompt(instruction)`."""
        if not getattr(task, "ok", False):
            raise ValueError(f"no task to answer: {getattr(task, 'reason', task)}")
        return self.inputs(task.prompt(instruction), task.images)

    def generation_config(self, decoding: Decoding, n: int = 1):
        """The model's generation config (for its end tokens) with our decoding choices forced."""
        config = copy.deepcopy(self.model.generation_config)
        sample = not decoding.greedy
        config.update(max_new_tokens=decoding.max_new_tokens, do_sample=sample, num_beams=1,
                      temperature=decoding.temperature if sample else None, top_p=decoding.top_p if sample else None,
                      top_k=0 if sample else None, repetition_penalty=1.0, num_return_sequences=n)
        if config.pad_token_id is None:
            config.pad_token_id = self.processor.tokenizer.pad_token_id
        return config

    def stream(self, task, decoding: Decoding = Decoding(), *, instruction: str = FORMAT_INSTRUCTION) -> Stream:
        """Start answering `task`; iterate the returned Stream for text as it is generated, `stop()` to end early."""
        return Stream(self, self.task_inputs(task, instruction), decoding)

    def answer(self, task, decoding: Decoding = Decoding(), *, instruction: str = FORMAT_INSTRUCTION) -> Generation:
        """Answer `task` and wait for the whole response."""
        return self.stream(task, decoding, instruction=instruction).result()

    def sample_group(self, task, n: int = GROUP_SIZE, decoding: Decoding = Decoding(temperature=GROUP_TEMPERATURE),
                     *, mode: str = "strict", instruction: str = FORMAT_INSTRUCTION) -> Group:
        """n sampled answers (one batched generate), each scored by the verifier, with GRPO advantages."""
        if n < 1:
            raise ValueError(f"a group needs n >= 1 answers, got {n}")
        if decoding.greedy:
            raise ValueError("group sampling needs temperature > 0 (greedy answers would all be the same)")
        inputs = self.task_inputs(task, instruction)
        ids = _generate_ids(self, inputs, self.generation_config(decoding, n), decoding.seed)
        texts = self.processor.batch_decode(ids[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        scores = [score(text, task.answer, mode=mode, task=task.task, options=task.options) for text in texts]
        advantages, mean, std, no_signal = group_advantages(result.overall for result in scores)
        answers = [GroupAnswer(text, result, advantage) for text, result, advantage in zip(texts, scores, advantages)]
        return Group(answers, mean, std, no_signal, mode, decoding)


class Stream:
    """Text chunks as the model generates them, from a worker thread.

    Iterate it (each item is the new text); `text` holds everything so far and `parts` splits it for
    display; `stop()` (from any thread) ends generation after the current token; `result()` waits for the
    end and returns the Generation. Leaving the loop early stops generation too.
    """

    def __init__(self, vlm: VLM, inputs, decoding: Decoding):
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
def _generate_ids(vlm: VLM, inputs, config, seed: int | None):
    """All sequences at once (prompt included), under the model's lock."""
    import torch

    with vlm.lock, torch.inference_mode():
        _seed(seed)
        return vlm.model.generate(**inputs, generation_config=config)


@gpu(duration=_gpu_seconds)
def _stream_tokens(vlm: VLM, inputs, config, seed: int | None, stop: threading.Event):
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
