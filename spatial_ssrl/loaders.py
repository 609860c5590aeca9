"""Scene loaders: every RGB and depth file format the project accepts, validated where it enters.

Each function takes a path (str / os.PathLike), raw bytes, or an open binary file object (what an app
upload gives), and raises `SceneError` with a message that says what was wrong and what is accepted.

Decisions (documented once, here):
- RGB of any Pillow mode becomes (H, W, 3) uint8. Transparency is composited onto white (what a viewer
  shows; pixels under alpha 0 are often garbage). 16-bit grey (I;16, I) is scaled from 0..65535, float
  grey (F) from 0..1. EXIF orientation is applied. Multi-frame files give their first frame.
- The pixel count is checked from the header before any pixel is decoded (decompression bombs).
- Depth becomes (H, W) float32 with NaN where unknown: 0, negative, NaN and inf mean "no depth".
  `depth_scale` multiplies the stored values; it defaults to 0.001 for 16-bit PNG and integer TIFF
  (millimetres -> metres) and to 1 for everything else.
- Depth of another size than the image is resized to it by nearest neighbour (never mixing depths
  across an edge), provided the aspect ratios agree within `ASPECT_TOLERANCE`.
- `.npy` is read with `allow_pickle=False`: pickled or object arrays are refused, never unpickled.
- 8-bit RGB PNGs without transparency or EXIF (most photos and renders) are decoded by libspng through
  `pyspng` when it is installed: the same pixels as Pillow, about twice as fast, which matters when a
  dataset build decodes tens of thousands of images. Anything else, or any error there, goes to Pillow.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .scene import Scene, SceneError

#: The EXIF tag that says how the camera was held.
EXIF_ORIENTATION = 0x0112
#: Largest accepted pixel count (about 8660 x 5770); larger images are refused before decoding.
MAX_PIXELS = 50_000_000
#: Smallest accepted image side, in pixels: smaller cannot hold a task.
MIN_SIDE = 32
#: Smallest accepted depth-map side: low-resolution depth is upsampled, but a few pixels say nothing.
MIN_DEPTH_SIDE = 8
#: Largest relative difference of aspect ratio (width / height) between depth and image.
ASPECT_TOLERANCE = 0.02
#: Depth scale for integer image formats (16-bit PNG / TIFF): millimetres to metres.
MILLIMETRES = 0.001

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

RGB_ACCEPTED = "accepted: PNG, JPEG, WebP or any other format Pillow reads, in any colour mode"
DEPTH_ACCEPTED = (
    "accepted depth: .npy (H, W) or (H, W, 1) numeric array, .npz holding a 'depth' array, HDF5 "
    "(.h5/.hdf5) with a 'depth' dataset, 16-bit single-channel PNG in millimetres, float or 16-bit "
    "TIFF, or PFM; 0, NaN, inf and negative values mean 'no depth'"
)

# Errors Pillow, numpy, h5py and tifffile raise on malformed input (never a bug of ours to hide).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError,
                  struct.error, zlib.error)


def load_scene(image: Source, depth: Source | None = None, mask: Source | None = None, *,
               depth_scale: float | None = None, name: str | None = None,
               max_pixels: int = MAX_PIXELS) -> Scene:
    """Load an RGB image and, optionally, its depth (and validity mask) into a validated Scene."""
    rgb = load_rgb(image, max_pixels=max_pixels)
    sources = {"rgb": source_name(image)}
    depth_map = None
    if depth is None:
        if mask is not None or depth_scale is not None:
            raise SceneError("a depth mask or depth_scale was given without a depth file; "
                             "pass depth= as well, or leave both out for an RGB-only scene")
    else:
        depth_map = load_depth(depth, depth_scale=depth_scale, shape=rgb.shape[:2], mask=mask,
                               max_pixels=max_pixels)
        sources["depth"] = source_name(depth)
        if mask is not None:
            sources["mask"] = source_name(mask)
    return Scene(rgb=rgb, depth=depth_map, name=name or _stem(sources["rgb"]), sources=sources,
                 depth_origin=None if depth_map is None else "sensor")


def load_rgb(source: Source, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image of any Pillow mode to (H, W, 3) uint8, orientation applied, size checked first."""
    name = source_name(source)
    with _binary(source, name) as stream:
        try:
            with Image.open(stream) as image:
                _check_pixels(image.size[::-1], name, max_pixels)
                fast = _decode_plain_png(image, stream)
                if fast is not None:
                    return fast
                image.load()
                if image.getexif().get(EXIF_ORIENTATION, 1) != 1:  # transposing otherwise only copies
                    image = ImageOps.exif_transpose(image)
                return _to_rgb(image, name)
        except SceneError:
            raise
        except Image.DecompressionBombError as exc:
            raise SceneError(f"{name}: refused as a possible decompression bomb ({exc}); "
                             f"the cap is {max_pixels:,} pixels") from exc
        except UnidentifiedImageError as exc:
            raise SceneError(f"{name}: not a readable image: Pillow cannot identify it (unknown format, "
                             f"corrupt header, or zero width/height); {RGB_ACCEPTED}") from exc
        except _DECODE_ERRORS as exc:
            raise SceneError(f"{name}: the image is truncated or corrupt ({exc}); {RGB_ACCEPTED}") from exc


def load_depth(source: Source, *, depth_scale: float | None = None,
               shape: tuple[int, int] | None = None, mask: Source | None = None,
               max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read a depth map to (H, W) float32, NaN where invalid; optionally masked and resized to `shape`."""
    name = source_name(source)
    if depth_scale is not None and not (np.isfinite(depth_scale) and depth_scale > 0):
        raise SceneError(f"depth_scale must be a positive finite number, got {depth_scale!r}")
    raw, default_scale = _read_array(source, name, max_pixels)
    stored = _single_channel(raw, name, "depth")
    _check_pixels(stored.shape, name, max_pixels, MIN_DEPTH_SIDE)
    if stored.dtype.kind not in "iuf":
        raise SceneError(f"{name}: depth must be numeric (integer or float), got dtype {stored.dtype}; "
                         f"{DEPTH_ACCEPTED}")
    scale = default_scale if depth_scale is None else depth_scale
    with np.errstate(over="ignore", invalid="ignore"):
        depth = (stored.astype(np.float64) * scale).astype(np.float32) if scale != 1 else stored.astype(np.float32)
        depth[~(np.isfinite(depth) & (depth > 0))] = np.nan
    masked = ""
    if mask is not None:
        valid = _load_mask(mask, max_pixels)
        if valid.shape != depth.shape:
            raise SceneError(f"{source_name(mask)}: mask shape {valid.shape} does not match depth shape "
                             f"{depth.shape} of {name}; a validity mask must have the depth's (H, W)")
        depth[~valid] = np.nan
        masked = " after applying the mask"
    if shape is not None and depth.shape != tuple(shape):
        depth = _resize_nearest(depth, tuple(shape), name)
    if not np.isfinite(depth).any():
        raise SceneError(f"{name}: depth has no valid pixels{masked} (every value is 0, negative, NaN or "
                         f"inf); depth must be positive where known")
    return depth


def source_name(source: Source) -> str:
    """A short name for messages and provenance: the file's base name, or what kind of object it is."""
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    name = getattr(source, "name", None)
    return Path(name).name if isinstance(name, (str, os.PathLike)) else "<stream>"


def _stem(name: str) -> str:
    return Path(name).stem if not name.startswith("<") else "scene"


@contextmanager
def _binary(source: Source, name: str):
    """A seekable binary stream over a path, bytes or an open file (read into memory: uploads are small)."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise SceneError(f"{source}: no such file" + (" (it is a directory)" if path.is_dir() else ""))
        with open(path, "rb") as stream:
            yield stream
    elif isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(source))
    elif hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, bytes):
            raise SceneError(f"{name}: the file object must be opened in binary mode ('rb')")
        yield io.BytesIO(data)
    else:
        raise SceneError(f"expected a file path, bytes or a binary file object, got {type(source).__name__}")


def _check_pixels(shape: tuple, name: str, max_pixels: int, min_side: int | None = MIN_SIDE) -> None:
    """Refuse huge rasters (decompression bombs) from their header shape, and tiny ones (zero-size, 1-pixel)."""
    shape = tuple(int(n) for n in shape)
    count = int(np.prod(shape, dtype=np.int64))
    size = f"{shape[1]}x{shape[0]}" if len(shape) == 2 else f"shape {shape}"
    if count > max_pixels:
        raise SceneError(f"{name}: {size} = {count:,} pixels exceeds the cap of {max_pixels:,} pixels "
                         f"(decompression-bomb guard); downscale it or raise max_pixels")
    if min_side is not None and min(shape) < min_side:
        raise SceneError(f"{name}: {size} pixels is too small; it must be at least {min_side} pixels on each side")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _decode_plain_png(image: Image.Image, stream: BinaryIO) -> np.ndarray | None:
    """An 8-bit truecolour PNG with no transparency and no EXIF, decoded by libspng (pyspng): exactly
    Pillow's pixels (RGB needs no conversion, no orientation applies) in about half the time. None for
    every other image, when pyspng is not installed, or when libspng fails (Pillow then decodes it and
    reports any corruption in its own words)."""
    if image.format != "PNG" or image.mode != "RGB" or "transparency" in image.info or getattr(image, "is_animated", False):
        return None
    try:
        import pyspng
    except ImportError:
        return None
    stream.seek(0)
    data = stream.read()
    # IHDR is the first chunk: bit depth at byte 24, colour type at 25 (2 = truecolour). Pillow also calls
    # 16-bit PNGs "RGB"; an eXIf chunk may come after the image data, where Pillow's header parse misses it.
    plain = data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR" and data[24] == 8 and data[25] == 2
    if not plain or b"eXIf" in data:
        stream.seek(0)
        return None
    try:  # always an explicit format: pyspng's automatic one crashed on a 16-bit grey PNG (1.1.3)
        pixels = pyspng.load(data, format="RGB")
    except Exception:  # noqa: BLE001 - any libspng failure: Pillow decodes (or refuses) the file instead
        pixels = None
    stream.seek(0)
    if pixels is None or pixels.dtype != np.uint8 or pixels.shape != (image.height, image.width, 3):
        return None
    return pixels


_SIXTEEN_BIT_GREY = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
_TRANSPARENT_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


def _to_rgb(image: Image.Image, name: str) -> np.ndarray:
    """Any Pillow mode to RGB uint8: transparency over white, high-bit-depth grey rescaled to 8 bits."""
    if image.mode in _SIXTEEN_BIT_GREY or image.mode == "F":
        grey = np.asarray(image, dtype=np.float64) * (255.0 if image.mode == "F" else 255.0 / 65535.0)
        grey = np.clip(np.nan_to_num(grey), 0, 255).round().astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    try:
        if image.mode in _TRANSPARENT_MODES or "transparency" in image.info:
            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        # One copy out of Pillow: convert only when the mode differs; asarray is read-only, like Scene.rgb.
        return np.asarray(image if image.mode == "RGB" else image.convert("RGB"), dtype=np.uint8)
    except ValueError as exc:
        raise SceneError(f"{name}: cannot convert Pillow mode {image.mode} to RGB ({exc}); {RGB_ACCEPTED}") from exc


def _load_mask(source: Source, max_pixels: int) -> np.ndarray:
    """A validity mask (DIODE: float 1 = valid) as a boolean (H, W) array; nonzero finite = valid."""
    name = source_name(source)
    raw, _ = _read_array(source, name, max_pixels)
    mask = _single_channel(raw, name, "mask")
    _check_pixels(mask.shape, name, max_pixels, MIN_DEPTH_SIDE)
    if mask.dtype.kind not in "biuf":
        raise SceneError(f"{name}: a validity mask must be boolean or numeric, got dtype {mask.dtype}")
    with np.errstate(invalid="ignore"):
        return np.isfinite(mask) & (mask != 0) if mask.dtype.kind == "f" else mask != 0


def _single_channel(array: np.ndarray, name: str, what: str) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != 2:
        raise SceneError(f"{name}: {what} must be a single-channel (H, W) or (H, W, 1) array, "
                         f"got shape {array.shape}; {DEPTH_ACCEPTED}")
    return array


def _resize_nearest(depth: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
    """Nearest-neighbour resize to the image size; refuses a different aspect ratio (a wrong pairing)."""
    (height, width), (to_height, to_width) = depth.shape, shape
    aspect, to_aspect = width / height, to_width / to_height
    if abs(aspect - to_aspect) / to_aspect > ASPECT_TOLERANCE:
        raise SceneError(f"{name}: depth is {width}x{height} but the image is {to_width}x{to_height}; their "
                         f"aspect ratios differ by more than {ASPECT_TOLERANCE:.0%}, so they cannot be aligned "
                         f"(depth of another size is accepted only with the image's aspect ratio)")
    rows = ((np.arange(to_height) + 0.5) * (height / to_height)).astype(np.intp)
    cols = ((np.arange(to_width) + 0.5) * (width / to_width)).astype(np.intp)
    return depth[rows[:, None], cols[None, :]]


# --- raw array readers, chosen by the file's magic bytes (extensions lie; uploads have none) ---

_PICKLE_REFUSED = ("pickled data is refused (never unpickled, it can run code); save a plain numeric array "
                   "with np.save(path, array) and allow_pickle=False")


def _read_array(source: Source, name: str, max_pixels: int) -> tuple[np.ndarray, float]:
    """The stored array of a depth or mask file and the default scale its format implies."""
    with _binary(source, name) as stream:
        head = stream.read(8)
        stream.seek(0)
        reader = _reader_for(head, name)
        try:
            return reader(stream, name, max_pixels)
        except SceneError:
            raise
        except _DECODE_ERRORS as exc:
            raise SceneError(f"{name}: cannot read it as {reader.__doc__} - the file is truncated or "
                             f"corrupt ({exc}); {DEPTH_ACCEPTED}") from exc


def _reader_for(head: bytes, name: str):
    if head.startswith(b"\x93NUMPY"):
        return _read_npy
    if head.startswith(b"PK\x03\x04"):
        return _read_npz
    if head.startswith(b"\x89HDF\r\n\x1a\n") or Path(name).suffix.lower() in (".h5", ".hdf5"):
        return _read_hdf5
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _read_png
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _read_tiff
    if head[:2] in (b"Pf", b"PF") and head[2:3].isspace():
        return _read_pfm
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        raise SceneError(f"{name}: this is a Python pickle, not a .npy array: {_PICKLE_REFUSED}")
    if head.startswith(b"v/1\x01"):
        raise SceneError(f"{name}: OpenEXR depth cannot be read here (no EXR reader is installed); convert it "
                         f"to float TIFF or .npy; {DEPTH_ACCEPTED}")
    if head.startswith(b"\xff\xd8"):
        raise SceneError(f"{name}: a JPEG cannot hold depth (8-bit, lossy); {DEPTH_ACCEPTED}")
    kind = "it is empty" if not head else f"unrecognised first bytes {head[:8]!r}"
    raise SceneError(f"{name}: not a depth file this project reads ({kind}); {DEPTH_ACCEPTED}")


def _read_npy(stream: BinaryIO, name: str, max_pixels: int) -> tuple[np.ndarray, float]:
    """a .npy array"""
    version = np.lib.format.read_magic(stream)
    header = (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)
    shape, _, dtype = header(stream)
    if dtype.hasobject:
        raise SceneError(f"{name}: the .npy holds Python objects (dtype {dtype}): {_PICKLE_REFUSED}")
    _check_pixels(shape, name, max_pixels, min_side=None)
    stream.seek(0)
    return np.load(stream, allow_pickle=False), 1.0


def _read_npz(stream: BinaryIO, name: str, max_pixels: int) -> tuple[np.ndarray, float]:
    """a .npz archive"""
    with np.load(stream, allow_pickle=False) as archive:
        key = _pick_key(list(archive.files), name, "array")
        try:
            return archive[key], 1.0
        except ValueError as exc:
            raise SceneError(f"{name}: array '{key}' holds Python objects: {_PICKLE_REFUSED}") from exc


def _read_hdf5(stream: BinaryIO, name: str, max_pixels: int) -> tuple[np.ndarray, float]:
    """an HDF5 file"""
    import h5py

    with h5py.File(stream, "r") as store:
        datasets = []
        store.visititems(lambda path, item: datasets.append(path) if isinstance(item, h5py.Dataset) else None)
        dataset = store[_pick_key(datasets, name, "dataset", single_ok=False)]
        _check_pixels(dataset.shape, name, max_pixels, min_side=None)
        return dataset[()], 1.0


def _pick_key(keys: list[str], name: str, kind: str, single_ok: bool = True) -> str:
    """The 'depth' entry of a container (or its only entry for .npz); otherwise say what is there."""
    if "depth" in keys:
        return "depth"
    if single_ok and len(keys) == 1:
        return keys[0]
    found = ", ".join(repr(key) for key in keys[:20]) or "none"
    raise SceneError(f"{name}: no {kind} named 'depth' (found: {found}); store the depth map as a "
                     f"top-level {kind} named 'depth'")


def _read_png(stream: BinaryIO, name: str, max_pixels: int) -> tuple[np.ndarray, float]:
    """a 16-bit depth PNG"""
    with Image.open(stream) as image:
        if image.mode not in _SIXTEEN_BIT_GREY:
            raise SceneError(f"{name}: a depth PNG must be 16-bit single-channel (millimetres, as in NYU, TUM "
                             f"and ScanNet), got Pillow mode {image.mode}; {DEPTH_ACCEPTED}")
        _check_pixels(image.size[::-1], name, max_pixels, min_side=None)
        image.load()
        return np.asarray(image), MILLIMETRES


def _read_tiff(stream: BinaryIO, name: str, max_pixels: int) -> tuple[np.ndarray, float]:
    """a TIFF image"""
    import tifffile

    with tifffile.TiffFile(stream) as tiff:
        page = tiff.pages[0]
        _check_pixels(page.shape, name, max_pixels, min_side=None)
        array = page.asarray()
    return array, (MILLIMETRES if array.dtype.kind in "iu" else 1.0)


def _read_pfm(stream: BinaryIO, name: str, max_pixels: int) -> tuple[np.ndarray, float]:
    """a PFM image"""
    kind, size, scale = (stream.readline(64).strip() for _ in range(3))
    if kind != b"Pf":
        raise SceneError(f"{name}: a colour PFM (PF) cannot be depth; save a greyscale PFM (Pf); {DEPTH_ACCEPTED}")
    width, height = (int(value) for value in size.split())
    _check_pixels((height, width), name, max_pixels, min_side=None)
    data = stream.read(4 * width * height)
    if len(data) != 4 * width * height:
        raise ValueError(f"expected {4 * width * height} bytes of pixels, found {len(data)}")
    dtype = np.dtype("<f4" if float(scale) < 0 else ">f4")
    return np.frombuffer(data, dtype=dtype).reshape(height, width)[::-1].astype(np.float32), 1.0
