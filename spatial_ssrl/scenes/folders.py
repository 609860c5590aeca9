"""Scenes in folders: find the RGB images under a folder and pair each with its depth map (and mask) by name.

Used by `spatial-ssrl build` and by every other command that reads an image folder, so that one folder
always yields the same scenes, in the same order, whatever the file system lists first.

Pairing rules (names compare case-insensitively; a file is never both an image and a depth map):

1. Images are the files with an image extension (.jpg .jpeg .png .webp .bmp .tif .tiff) anywhere under
   the images folder, except hidden files and folders, files whose name has the word `depth` in it
   (`x_depth.png`, `frame.depth.png`, `RGB-D_depth1.png` are depth maps, never photos) and files in a
   folder named `depth` or `depths`.
2. Depth is looked for, with a depth folder, in the same relative subfolder of the depth folder; without
   one, in the image's own folder and then, for an image in a folder named `img`, `imgs`, `image`,
   `images`, `rgb`, `color` or `colour`, in a sibling folder named `depth` or `depths` (MegaDepth's
   `dense0/imgs/x.jpg` -> `dense0/depths/x.h5`, TUM's `rgb/` -> `depth/`). For an image with stem S, the
   candidate stems are, in this order:
     a. S itself (only in a folder other than the image's: `rgb/0001.jpg` -> `depth/0001.png`);
     b. S_depth, S-depth, S.depth (DIODE: `x.png` -> `x_depth.npy`);
     c. S with its last `img`, `image`, `rgb`, `color` or `colour` word replaced by `depth`
        (`RGB-D_img1.jpg` -> `RGB-D_depth1.h5`, `rgb_0001.jpg` -> `depth_0001.png`,
        `frame.color.jpg` -> `frame.depth.png`);
   each with the extensions .npy .npz .h5 .hdf5 .png .tif .tiff .pfm, in this order. The first file that
   exists wins.
3. A validity mask (DIODE) sits next to its depth file D: D_mask, D-mask or D.mask, D with its last `depth`
   word replaced by `depth_mask` (`RGB-D_depth3.npy` -> `RGB-D_depth_mask3.npy`), or S_depth_mask, each
   with the extensions .npy .npz .png .tif .tiff.
4. A scene's name is the image's path relative to the images folder (`sub/x.jpg`): unique and stable.
   Scenes are sorted by name.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from spatial_ssrl.scenes.scene import Scene

#: Image folder names whose sibling depth folder (DEPTH_FOLDERS) holds the images' depth maps.
IMAGE_FOLDERS = ("img", "imgs", "image", "images", "rgb", "color", "colour")
DEPTH_FOLDERS = ("depth", "depths")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
DEPTH_EXTENSIONS = (".npy", ".npz", ".h5", ".hdf5", ".png", ".tif", ".tiff", ".pfm")
MASK_EXTENSIONS = (".npy", ".npz", ".png", ".tif", ".tiff")
#: Words in an image's name that stand for "the colour image" and become `depth` in its depth file's name.
RGB_WORDS = ("img", "image", "rgb", "color", "colour")
SEPARATORS = ("_", "-", ".")

# A "word" is a run of letters bounded by anything that is not a letter (digits, _, -, ., ends).
_WORD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class SceneSource:
    """Where one scene's files are: an RGB image and, for RGB-D scenes, a depth map and optional mask."""

    name: str
    rgb: Path
    depth: Path | None = None
    mask: Path | None = None
    depth_scale: float | None = None

    @property
    def has_depth(self) -> bool:
        return self.depth is not None

    @property
    def files(self) -> tuple[Path, ...]:
        """The files this scene is read from (for messages and fingerprints)."""
        return tuple(path for path in (self.rgb, self.depth, self.mask) if path is not None)

    @property
    def identity(self) -> list:
        """The scene as a resumed run must find it again (JSON): its name, each file's path, size and
        modification time, and the depth scale; `build` and `coldstart` fingerprint their inputs with it."""
        return [self.name] + [[str(path), *_size_and_mtime(path)] for path in self.files] + [self.depth_scale]

    def load(self) -> Scene:
        """Read the files into a validated Scene; raises SceneError (a ValueError) when they are unreadable."""
        from spatial_ssrl.scenes.loaders import load_scene

        return load_scene(self.rgb, self.depth, self.mask, depth_scale=self.depth_scale, name=self.name)


def discover_scenes(images_dir: str | os.PathLike, depth_dir: str | os.PathLike | None = None) -> list[SceneSource]:
    """All scenes under `images_dir`, paired with depth by the module's rules, sorted by name."""
    images_root = _existing_dir(images_dir, "images")
    depth_root = _existing_dir(depth_dir, "depth") if depth_dir is not None else images_root
    separate = depth_root.resolve() != images_root.resolve()
    images = _image_files(images_root)
    image_paths = {path.resolve() for path in images.values()}
    folders: dict[Path, dict[str, Path]] = {}

    def listing(folder: Path) -> dict[str, Path]:
        if folder not in folders:
            folders[folder] = _files_by_lower_name(folder, exclude=image_paths)
        return folders[folder]

    sources = []
    for name in sorted(images):
        rgb = images[name]
        if separate:
            places = [(depth_root / Path(name).parent, False)]
        else:
            places = [(rgb.parent, True)] + [(folder, False) for folder in _depth_siblings(rgb.parent)]
        found = (_first(listing(folder), depth_stems(rgb.stem, same), DEPTH_EXTENSIONS) for folder, same in places)
        depth = next((path for path in found if path is not None), None)
        mask = depth and _first(listing(depth.parent), mask_stems(depth.stem, rgb.stem), MASK_EXTENSIONS)
        sources.append(SceneSource(name=name, rgb=rgb, depth=depth, mask=mask or None))
    return sources


def load_scenes(folder: str | os.PathLike) -> list[Scene]:
    """The scenes of a folder (`discover_scenes`), loaded and validated; ValueError when it holds no image."""
    sources = discover_scenes(folder)
    if not sources:
        raise ValueError(f"--scenes {folder}: no images found")
    return [source.load() for source in sources]


def unpaired_depth_files(images_dir: str | os.PathLike, depth_dir: str | os.PathLike | None,
                         sources: list[SceneSource]) -> list[str]:
    """Depth-looking files that no image claimed (to explain a pairing that did not happen), sorted."""
    images_root = _existing_dir(images_dir, "images")
    root = _existing_dir(depth_dir, "depth") if depth_dir is not None else images_root
    separate = root.resolve() != images_root.resolve()
    claimed = {path.resolve() for source in sources for path in source.files}
    unpaired = []
    for folder, _, names in _walk(root):
        for file_name in names:
            path = folder / file_name
            if (path.suffix.lower() in DEPTH_EXTENSIONS and path.resolve() not in claimed
                    and (separate or not _is_image(path))):
                unpaired.append(path.relative_to(root).as_posix())
    return sorted(unpaired)


def depth_stems(stem: str, same_folder: bool) -> list[str]:
    """Candidate depth-file stems for an image stem, in the order rule 2 tries them."""
    stems = [] if same_folder else [stem]
    stems += [f"{stem}{separator}depth" for separator in SEPARATORS]
    replaced = _replace_last_word(stem, RGB_WORDS, "depth")
    if replaced is not None:
        stems.append(replaced)
    return _unique(stems)


def mask_stems(depth_stem: str, image_stem: str) -> list[str]:
    """Candidate mask-file stems for a depth stem (and its image's stem), in the order rule 3 tries them."""
    stems = [f"{depth_stem}{separator}mask" for separator in SEPARATORS]
    replaced = _replace_last_word(depth_stem, ("depth",), "depth_mask")
    if replaced is not None:
        stems.append(replaced)
    stems.append(f"{image_stem}_depth_mask")
    return _unique(stems)


def _size_and_mtime(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
        return stat.st_size, stat.st_mtime_ns
    except OSError:
        return -1, -1


def _existing_dir(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise NotADirectoryError(f"{path}: the {what} folder does not exist or is not a folder")
    return path


def _walk(root: Path):
    """os.walk without hidden files and folders, in sorted order (the listing order never matters)."""
    for folder, subfolders, names in os.walk(root, followlinks=True):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        yield Path(folder), subfolders, sorted(name for name in names if not name.startswith("."))


def _image_files(root: Path) -> dict[str, Path]:
    """Rule 1: relative posix name -> path of every image file under `root`."""
    found = {}
    for folder, _, names in _walk(root):
        for file_name in names:
            path = folder / file_name
            if _is_image(path) and path.is_file():
                found[path.relative_to(root).as_posix()] = path
    return found


def _is_image(path: Path) -> bool:
    """Rule 1 for one file."""
    return (path.suffix.lower() in IMAGE_EXTENSIONS and not _has_word(path.stem, "depth")
            and path.parent.name.lower() not in DEPTH_FOLDERS)


def _depth_siblings(folder: Path) -> list[Path]:
    """Rule 2's sibling depth folders of an image folder (`imgs/` -> `depths/`), in DEPTH_FOLDERS order."""
    if folder.name.lower() not in IMAGE_FOLDERS:
        return []
    siblings = {path.name.lower(): path for path in sorted(folder.parent.iterdir()) if path.is_dir()}
    return [siblings[name] for name in DEPTH_FOLDERS if name in siblings]


def _files_by_lower_name(folder: Path, exclude: set[Path]) -> dict[str, Path]:
    """Lower-cased file name -> path in one folder (not recursive); the images themselves excluded."""
    if not folder.is_dir():
        return {}
    files = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") and path.resolve() not in exclude:
            files.setdefault(path.name.lower(), path)
    return files


def _first(files: dict[str, Path], stems: list[str], extensions: tuple[str, ...]) -> Path | None:
    for stem in stems:
        for extension in extensions:
            path = files.get(f"{stem}{extension}".lower())
            if path is not None:
                return path
    return None


def _has_word(stem: str, word: str) -> bool:
    return any(match.group().lower() == word for match in _WORD.finditer(stem))


def _replace_last_word(stem: str, words: tuple[str, ...], replacement: str) -> str | None:
    """`stem` with its last word that is one of `words` (any case) replaced, or None if it has none."""
    matches = [match for match in _WORD.finditer(stem) if match.group().lower() in words]
    if not matches:
        return None
    last = matches[-1]
    return stem[:last.start()] + replacement + stem[last.end():]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
