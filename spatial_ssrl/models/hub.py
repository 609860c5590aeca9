"""Which model, and where its files come from: a hub id or a local folder, the Hugging Face cache, offline mode.

One rule decides where `from_pretrained` looks (an existing folder as is, a name that can only be a path
fails, anything else is a hub id read through the cache, never downloaded when HF_HUB_OFFLINE is set), and
`model_status` applies the same rule without loading anything, so the app's banner and the CLIs never
disagree with the loader. A model that cannot be found raises ModelUnavailable, whose message says where it
was looked for and how to point at a copy on disk.

Needs neither torch nor transformers: `from_pretrained` is handed the Auto class to call.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

#: The trained model the studio runs unless told otherwise.
DEFAULT_MODEL = "internlm/Spatial-SSRL-3B"
#: Known models: hub id -> what it is. Any other hub id or local folder of a Qwen-VL model also works.
MODELS = {
    "internlm/Spatial-SSRL-3B": "Spatial-SSRL-3B: Qwen2.5-VL-3B trained with the five pretext tasks (default)",
    "internlm/Spatial-SSRL-7B": "Spatial-SSRL-7B: Qwen2.5-VL-7B trained with the five pretext tasks",
    "Qwen/Qwen2.5-VL-3B-Instruct": "Qwen2.5-VL-3B-Instruct: the base model Spatial-SSRL-3B started from",
    "internlm/Spatial-SSRL-Qwen3VL-4B": "Spatial-SSRL-Qwen3VL-4B: Qwen3-VL-4B trained with the five pretext tasks",
}
#: Environment variable naming the model (hub id or folder).
MODEL_ENV = "SPATIAL_SSRL_MODEL"
#: The file every `save_pretrained` folder and hub snapshot of a model holds.
CONFIG_FILE = "config.json"


class ModelUnavailable(OSError):
    """The weights cannot be loaded (offline and not cached, or no such folder); the message says what to do."""


def resolve_model(model: str | None = None, *, env: str = MODEL_ENV, default: str = DEFAULT_MODEL) -> str:
    """The model to use: the argument, else the environment variable (`$SPATIAL_SSRL_MODEL`), else the default."""
    return (model or os.environ.get(env, "") or default).strip()


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


def hub_cache_entry(model_id: str) -> Path:
    """The folder of the cache that holds (or would hold) every downloaded revision of hub id `model_id`."""
    return hub_cache_dir() / ("models--" + model_id.replace("/", "--"))


def looks_like_path(model_id: str) -> bool:
    """A name that can only be a folder (absolute, relative with ./ or ../, ~, or more than one '/')."""
    return (os.path.isabs(model_id) or model_id.startswith(("./", "../", "~", ".\\")) or "\\" in model_id
            or model_id.count("/") > 1 or model_id in (".", ".."))


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
        source, path = "hub", hub_cache_entry(model_id)
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
        cached = hub_cache_entry(model_id)
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
