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
- Uploads are hostile until proven otherwise. Sizes come from headers and are checked (pixels, and bytes:
  `MAX_BYTES_PER_PIXEL` per allowed pixel) before anything is decompressed or allocated; a compression
  block (HDF5 chunk, TIFF tile or strip) may not be much larger than its array; an HDF5 'depth' reached
  through a soft or external link, with external storage or as a virtual dataset (reads of other files
  on the server) is refused before any data is read; gzip HDF5 chunks are inflated here, each to at most
  its own size (HDF5's filter has no bound); a compressed TIFF needs imagecodecs (its decoders are given
  the output size; tifffile's fallbacks are not). Every decoder failure becomes a one-line SceneError.
- 8-bit RGB PNGs without transparency or EXIF (most photos and renders) are decoded by libspng through
  `pyspng` when it is installed: the same pixels as Pillow, about twice as fast, which matters when a
  dataset build decodes tens of thousands of images. Anything else, or any error there, goes to Pillow.
"""

from __future__ import annotations

import io
import math
import os
import struct
import tokenize
import warnings
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from spatial_ssrl.scenes.scene import Scene, SceneError

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
#: Largest stored size per allowed pixel, in bytes (float64): a depth or mask array may take at most
#: max_pixels x this many bytes, whatever its item type (sub-array dtypes make one "pixel" huge).
MAX_BYTES_PER_PIXEL = 8
#: How far a compression block (HDF5 chunk, TIFF tile or strip) may exceed its whole array, in bytes: a
#: block is decoded whole, so a 400 MB chunk declared for a tiny array costs 400 MB. h5py's largest
#: automatic chunk is 1 MiB.
BLOCK_SLACK_BYTES = 1 << 20
#: Longest accepted .npy header (numpy's own default): a forged header length is refused before it is
#: read, so it cannot make a zip member inflate gigabytes.
NPY_MAX_HEADER_BYTES = 10_000
#: Most chunks a gzip HDF5 dataset may be cut into (h5py's default chunks give a few thousand at the pixel
#: cap): each is a Python-level step here, so a million 1-pixel chunks would take seconds and megabytes.
MAX_HDF5_CHUNKS = 1 << 16
#: Largest accepted zip central directory of a .npz, in bytes (np.savez writes about 100 per array):
#: zipfile builds an object per entry, several times the bytes the entry takes in the file.
MAX_NPZ_DIRECTORY_BYTES = 1 << 16
#: Longest decoder message quoted in a SceneError; longer ones are cut (messages are one line).
MAX_REASON_CHARS = 200

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

RGB_ACCEPTED = "accepted: PNG, JPEG, WebP or any other format Pillow reads, in any colour mode"
DEPTH_ACCEPTED = (
    "accepted depth: .npy (H, W) or (H, W, 1) numeric array, .npz holding a 'depth' array, HDF5 "
    "(.h5/.hdf5) with a 'depth' dataset, 16-bit single-channel PNG in millimetres, float or 16-bit "
    "TIFF, or PFM; 0, NaN, inf and negative values mean 'no depth'"
)

# Errors Pillow, numpy, zipfile, h5py, tifffile and imagecodecs raise on malformed input (never a bug of
# ours to hide). RuntimeError includes RecursionError, NotImplementedError and imagecodecs' errors;
# ArithmeticError includes OverflowError; tokenize.TokenError comes from numpy's header parser.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, RuntimeError,
                  MemoryError, ArithmeticError, struct.error, zlib.error, zipfile.BadZipFile,
                  zipfile.LargeZipFile, tokenize.TokenError, Image.DecompressionBombError)


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
            with _open_image(stream, name, max_pixels) as image:
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
        except UnidentifiedImageError as exc:
            raise SceneError(f"{name}: not a readable image: Pillow cannot identify it (unknown format, "
                             f"corrupt header, or zero width/height); {RGB_ACCEPTED}") from exc
        except _DECODE_ERRORS as exc:
            raise SceneError(f"{name}: the image is truncated or corrupt ({_reason(exc)}); {RGB_ACCEPTED}") from exc


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
        raise SceneError(f"{name}: depth must be numeric (integer or float), got dtype {_one_line(stored.dtype)}; "
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
    """A short name for messages and provenance: the file's base name, or what kind of object it is.
    Control characters (an uploaded name may hold a newline) are escaped: messages stay one line."""
    if isinstance(source, (str, os.PathLike)):
        name = Path(source).name
    elif isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    else:
        name = getattr(source, "name", None)
        if not isinstance(name, (str, os.PathLike)):
            return "<stream>"
        name = Path(name).name
    return name if name.isprintable() else "".join(c if c.isprintable() else ascii(c)[1:-1] for c in name)


def _one_line(text: object) -> str:
    """Text from a decoder or a file (an error, a dtype, stored names) fit to quote in a one-line
    SceneError: whitespace collapsed, cut when long."""
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS - 3] + "..."


def _reason(exc: BaseException) -> str:
    return _one_line(exc) or type(exc).__name__


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


@contextmanager
def _open_image(stream: BinaryIO, name: str, max_pixels: int):
    """Pillow's Image.open, its decompression-bomb warning (from about 89 Mpx) raised as the refusal it
    foretells unless the caller's cap is higher (only around the header parse: warning filters are
    process-wide), and its bomb error, from the header or a frame, reported with our cap."""
    try:
        with warnings.catch_warnings():
            limit = Image.MAX_IMAGE_PIXELS
            warnings.simplefilter("error" if limit is None or max_pixels <= limit else "ignore",
                                  Image.DecompressionBombWarning)
            image = Image.open(stream)
        with image:
            yield image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SceneError(f"{name}: refused as a possible decompression bomb ({_reason(exc)}); "
                         f"the cap is {max_pixels:,} pixels") from exc


def _check_pixels(shape: tuple, name: str, max_pixels: int, min_side: int | None = MIN_SIDE) -> None:
    """Refuse huge rasters (decompression bombs) from their header shape, and tiny ones (zero-size, 1-pixel)."""
    shape = tuple(int(n) for n in shape)
    count = math.prod(shape)  # exact: a forged header's sizes may overflow any fixed-width integer
    size = _size_label(shape)
    if min(shape, default=0) < 0:
        raise SceneError(f"{name}: {size} has a negative side (a corrupt or forged header); {DEPTH_ACCEPTED}")
    if count > max_pixels:
        raise SceneError(f"{name}: {size} = {count:,} pixels exceeds the cap of {max_pixels:,} pixels "
                         f"(decompression-bomb guard); downscale it or raise max_pixels")
    if min_side is not None and min(shape) < min_side:
        raise SceneError(f"{name}: {size} pixels is too small; it must be at least {min_side} pixels on each side")


def _size_label(shape: tuple) -> str:
    return f"{shape[1]}x{shape[0]}" if len(shape) == 2 else f"shape {shape}"


def _check_stored(shape: tuple, dtype: np.dtype, name: str, max_pixels: int) -> int:
    """Refuse a stored array from its header before it is read: pixels (a sub-array dtype's element counts
    as its own shape, as numpy expands it) and bytes; returns its size in bytes."""
    full = tuple(int(n) for n in shape) + dtype.shape
    _check_pixels(full, name, max_pixels, min_side=None)
    size = math.prod(shape) * dtype.itemsize
    if size > max_pixels * MAX_BYTES_PER_PIXEL:
        raise SceneError(f"{name}: {_size_label(full)} of {_one_line(dtype.base)} takes {size:,} bytes, over the "
                         f"cap of {max_pixels * MAX_BYTES_PER_PIXEL:,} ({MAX_BYTES_PER_PIXEL} bytes per pixel of "
                         f"max_pixels); store depth as float32 or float64")
    return size


def _check_block(block: tuple, dtype: np.dtype, size: int, name: str, what: str) -> None:
    """Refuse a compression block (decoded whole) much larger than the array it belongs to."""
    block_size = math.prod(int(n) for n in block) * dtype.itemsize
    if block_size > size + BLOCK_SLACK_BYTES:
        raise SceneError(f"{name}: a {what} of {block_size:,} bytes for an array of {size:,} bytes is refused "
                         f"(each is decoded whole); re-save it with the default {what} size")


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
        raise SceneError(f"{name}: cannot convert Pillow mode {image.mode} to RGB ({_reason(exc)}); "
                         f"{RGB_ACCEPTED}") from exc


def _load_mask(source: Source, max_pixels: int) -> np.ndarray:
    """A validity mask (DIODE: float 1 = valid) as a boolean (H, W) array; nonzero finite = valid."""
    name = source_name(source)
    raw, _ = _read_array(source, name, max_pixels)
    mask = _single_channel(raw, name, "mask")
    _check_pixels(mask.shape, name, max_pixels, MIN_DEPTH_SIDE)
    if mask.dtype.kind not in "biuf":
        raise SceneError(f"{name}: a validity mask must be boolean or numeric, got dtype {_one_line(mask.dtype)}")
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
                             f"corrupt ({_reason(exc)}); {DEPTH_ACCEPTED}") from exc


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
    offset, size = _npy_header(stream, name, max_pixels, "the .npy")
    stored = stream.seek(0, io.SEEK_END) - offset
    if stored < size:
        raise ValueError(f"its header declares {size:,} bytes of array data, the file holds {stored:,}")
    stream.seek(0)
    return np.lib.format.read_array(stream, allow_pickle=False, max_header_size=NPY_MAX_HEADER_BYTES), 1.0


def _npy_header(stream: BinaryIO, name: str, max_pixels: int, what: str) -> tuple[int, int]:
    """Check a .npy header (no pickles, size within the caps) reading nothing past it; returns the data's
    offset and size in bytes. The header length is checked before the header is read: numpy would read
    (or a zip member inflate) as many bytes as a forged length says."""
    version = np.lib.format.read_magic(stream)
    width = 2 if version == (1, 0) else 4
    length_field = stream.read(width)
    length = int.from_bytes(length_field, "little")
    if len(length_field) < width or length > NPY_MAX_HEADER_BYTES:
        raise ValueError(f"the .npy header length {length:,} is missing or over {NPY_MAX_HEADER_BYTES:,} bytes")
    header = io.BytesIO(length_field + stream.read(length))
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read_header(header, max_header_size=NPY_MAX_HEADER_BYTES)
    if dtype.hasobject:
        raise SceneError(f"{name}: {what} holds Python objects (dtype {_one_line(dtype)}): {_PICKLE_REFUSED}")
    return 8 + width + length, _check_stored(shape, dtype, name, max_pixels)


#: Zip compressions np.savez / np.savez_compressed write; the others (bzip2, LZMA) are decompressed by
#: zipfile without an output bound.
_NPZ_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


def _read_npz(stream: BinaryIO, name: str, max_pixels: int) -> tuple[np.ndarray, float]:
    """a .npz archive"""
    directory = _zip_directory_size(stream)
    if directory > MAX_NPZ_DIRECTORY_BYTES:
        raise SceneError(f"{name}: the .npz directory takes {directory:,} bytes, over {MAX_NPZ_DIRECTORY_BYTES:,} "
                         f"(thousands of members); save the depth map alone with np.savez")
    with zipfile.ZipFile(stream) as archive:
        members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
        key = _pick_key(list(members), name, "array")
        member = members[key]
        if member.compress_type not in _NPZ_COMPRESSIONS:
            raise SceneError(f"{name}: array '{_one_line(key)}' uses zip compression method {member.compress_type}; "
                             f"save it with np.savez or np.savez_compressed (stored or deflate)")
        with archive.open(member) as data:
            offset, size = _npy_header(data, name, max_pixels, f"array '{_one_line(key)}'")
        if member.file_size < offset + size:  # the zip directory's own count, checked before inflating
            raise ValueError(f"array '{_one_line(key)}' declares {size:,} bytes of data, its zip entry holds "
                             f"{max(member.file_size - offset, 0):,}")
        with archive.open(member) as data:
            return np.lib.format.read_array(data, allow_pickle=False, max_header_size=NPY_MAX_HEADER_BYTES), 1.0


_ZIP_END = b"PK\x05\x06"  # the end-of-central-directory record: 22 bytes and a comment of up to 64 KiB


def _zip_directory_size(stream: BinaryIO) -> int:
    """The central directory size a zip's end record declares (0 when none is found: zipfile then says
    what is wrong), found as zipfile finds it, before zipfile reads the directory."""
    end = stream.seek(0, io.SEEK_END)
    stream.seek(max(0, end - 22 - 0xFFFF))
    tail = stream.read()
    stream.seek(0)
    at = len(tail) - 22 if tail[-22:-18] == _ZIP_END and tail[-2:] == b"\0\0" else tail.rfind(_ZIP_END)
    return struct.unpack_from("<I", tail, at + 12)[0] if 0 <= at <= len(tail) - 22 else 0


# h5py.h5z.FILTER_DEFLATE and FILTER_SHUFFLE (h5py is imported only for HDF5 files): the HDF5 filters whose
# output this module bounds, inflating gzip chunks itself. Others are refused.
_GZIP, _SHUFFLE = 1, 2


def _read_hdf5(stream: BinaryIO, name: str, max_pixels: int) -> tuple[np.ndarray, float]:
    """an HDF5 file"""
    import h5py

    with h5py.File(stream, "r") as store:
        dataset = _hdf5_depth(store, name)
        _check_hdf5_storage(dataset, name)
        if dataset.shape is None or dataset.dtype.kind not in "biuf":
            held = "with no data" if dataset.shape is None else "values"
            raise SceneError(f"{name}: the 'depth' dataset holds {_one_line(dataset.dtype)} {held}, not numbers; "
                             f"{DEPTH_ACCEPTED}")
        size = _check_stored(dataset.shape, dataset.dtype, name, max_pixels)
        if dataset.chunks is not None:
            _check_block(dataset.chunks, dataset.dtype, size, name, "chunk")
        create = dataset.id.get_create_plist()
        filters = [create.get_filter(index) for index in range(create.get_nfilters())]
        for code, _, _, label in filters:
            if code not in (_GZIP, _SHUFFLE):
                raise SceneError(f"{name}: 'depth' uses the HDF5 filter {_one_line(label.decode(errors='replace'))} "
                                 f"({code}), which is not accepted; store it uncompressed or with gzip")
        if not filters:
            return dataset[()], 1.0
        return _inflate_chunks(dataset, [code for code, *_ in filters], name), 1.0


def _hdf5_depth(store, name: str):
    """The top-level 'depth' dataset, reached through a hard link only: a soft or external link is refused
    without being followed (it can reach another dataset or file)."""
    import h5py

    links = store.id.links
    if not links.exists(b"depth"):  # the link itself; nothing is followed
        _pick_key(_hdf5_datasets(store), name, "dataset", single_ok=False)
    kind = links.get_info(b"depth").type
    if kind != h5py.h5l.TYPE_HARD:
        what = {h5py.h5l.TYPE_SOFT: "a soft link", h5py.h5l.TYPE_EXTERNAL: "an external link"}.get(kind, "a link")
        raise SceneError(f"{name}: 'depth' is {what}, refused (it can reach data outside this file or dataset); "
                         f"store the depth map itself as a top-level dataset named 'depth'")
    if h5py.h5o.get_info(store.id, b"depth").type != h5py.h5o.TYPE_DATASET:
        raise SceneError(f"{name}: 'depth' is a group or a named type, not a dataset; store the depth map as a "
                         f"top-level dataset named 'depth'")
    # Second guard: relative external / virtual-source names resolve under /dev/null, where nothing can
    # exist (an empty directory would still let '../' out). Absolute names ignore the prefix, and
    # HDF5_EXTFILE_PREFIX / HDF5_VDS_PREFIX in the environment override it: _check_hdf5_storage refuses both.
    access = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    access.set_efile_prefix(os.devnull.encode())
    access.set_virtual_prefix(os.devnull.encode())
    return h5py.Dataset(h5py.h5d.open(store.id, b"depth", dapl=access))


def _check_hdf5_storage(dataset, name: str) -> None:
    """Refuse, before any data is read, a dataset whose data lies in other files: external storage (it
    would make any file on this machine, say /etc/passwd, the depth map) or a virtual dataset."""
    if dataset.is_virtual or dataset.id.get_create_plist().get_external_count():
        storage = "a virtual dataset (VDS)" if dataset.is_virtual else "stored in external files"
        raise SceneError(f"{name}: 'depth' is {storage}, refused (it reads other files on this machine); "
                         f"store the depth map's data inside the HDF5 file")


def _inflate_chunks(dataset, filters: list[int], name: str) -> np.ndarray:
    """A gzip (and shuffle) chunked dataset decoded chunk by chunk, each inflated to at most its own size:
    HDF5's deflate filter grows its buffer without a bound (a 1 MB chunk of zeros would take 1 GB). About
    as fast as HDF5's own read."""
    shape, dtype, chunk = dataset.shape, dataset.dtype, dataset.chunks
    chunk_size = math.prod(chunk) * dtype.itemsize
    if not chunk_size:  # zlib would take a zero limit as none
        raise ValueError(f"chunk shape {chunk} holds no data")
    count = math.prod(-(-side // step) for side, step in zip(shape, chunk))
    if count > MAX_HDF5_CHUNKS:
        raise SceneError(f"{name}: 'depth' is cut into {count:,} chunks, over {MAX_HDF5_CHUNKS:,}; store it with "
                         f"larger chunks (h5py's default)")
    stored = []
    dataset.id.chunk_iter(stored.append)  # the chunk index only
    if len(stored) > count:
        raise ValueError(f"the chunk index lists {len(stored):,} chunks for a grid of {count:,}")
    array = np.empty(shape, dtype) if len(stored) == count else np.full(shape, dataset.fillvalue, dtype)
    for info in stored:
        skipped, data = dataset.id.read_direct_chunk(info.chunk_offset)
        for index in reversed(range(len(filters))):  # undone in the reverse order of writing
            if skipped >> index & 1:
                continue
            if filters[index] == _GZIP:
                inflater = zlib.decompressobj()
                data = inflater.decompress(data, chunk_size)
                if inflater.unconsumed_tail:
                    raise SceneError(f"{name}: a gzip chunk of 'depth' inflates past its {chunk_size:,} bytes "
                                     f"(a decompression bomb or corrupt data), refused")
            else:
                data = np.frombuffer(data, np.uint8).reshape(dtype.itemsize, -1).T.tobytes()
        region = tuple(slice(start, min(start + step, side))
                       for start, step, side in zip(info.chunk_offset, chunk, shape))
        block = np.frombuffer(data, dtype).reshape(chunk)
        array[region] = block[tuple(slice(0, part.stop - part.start) for part in region)]
    return array


def _hdf5_datasets(store) -> list[str]:
    """Paths of the datasets reached through hard links only (soft and external links are not followed)."""
    import h5py

    found = []

    def visit(path: bytes, info) -> None:
        if info.type == h5py.h5l.TYPE_HARD and h5py.h5o.get_info(store.id, path).type == h5py.h5o.TYPE_DATASET:
            found.append(path.decode(errors="replace"))

    store.id.links.visit(visit, info=True)
    return found


def _pick_key(keys: list[str], name: str, kind: str, single_ok: bool = True) -> str:
    """The 'depth' entry of a container (or its only entry for .npz); otherwise say what is there."""
    if "depth" in keys:
        return "depth"
    if single_ok and len(keys) == 1:
        return keys[0]
    found = _one_line(", ".join(repr(key) for key in keys[:20]) or "none")
    raise SceneError(f"{name}: no {kind} named 'depth' (found: {found}); store the depth map as a "
                     f"top-level {kind} named 'depth'")


def _read_png(stream: BinaryIO, name: str, max_pixels: int) -> tuple[np.ndarray, float]:
    """a 16-bit depth PNG"""
    with _open_image(stream, name, max_pixels) as image:
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
        if page.dtype is None:
            sample_format = getattr(page.sampleformat, "name", page.sampleformat)
            raise SceneError(f"{name}: TIFF samples of {page.bitspersample} bits, format {sample_format}, cannot be "
                             f"read; {DEPTH_ACCEPTED}")
        if page.samplesperpixel != 1:
            raise SceneError(f"{name}: a depth TIFF must have one sample per pixel, got {page.samplesperpixel}; "
                             f"{DEPTH_ACCEPTED}")
        size = _check_stored(page.shape, page.dtype, name, max_pixels)
        _check_block(page.chunks, page.dtype, size, name, "tile" if page.is_tiled else "strip")
        compression = getattr(page.compression, "name", page.compression)
        try:
            if page.compression != 1:  # imagecodecs' decoders are given the output size; tifffile's own are not
                import imagecodecs  # noqa: F401
                if page.compression not in tifffile.TIFF.DECOMPRESSORS:
                    raise SceneError(f"{name}: TIFF compression {compression} is not supported; "
                                     f"save it uncompressed, LZW or deflate; {DEPTH_ACCEPTED}")
            array = page.asarray()
        except ImportError as exc:  # imagecodecs missing, or built without this codec
            needs = ("the imagecodecs package (pip install imagecodecs)" if exc.name == "imagecodecs"
                     else f"a decoder that is not installed ({_reason(exc)})")
            raise SceneError(f"{name}: TIFF compression {compression} needs {needs}; {DEPTH_ACCEPTED}") from exc
    return array, (MILLIMETRES if array.dtype.kind in "iu" else 1.0)


def _read_pfm(stream: BinaryIO, name: str, max_pixels: int) -> tuple[np.ndarray, float]:
    """a PFM image"""
    kind, size, scale = (stream.readline(64).strip() for _ in range(3))
    if kind != b"Pf":
        raise SceneError(f"{name}: a colour PFM (PF) cannot be depth; save a greyscale PFM (Pf); {DEPTH_ACCEPTED}")
    width, height = (int(value) for value in size.split())
    dtype = np.dtype("<f4" if float(scale) < 0 else ">f4")
    nbytes = _check_stored((height, width), dtype, name, max_pixels)
    data = stream.read(nbytes)
    if len(data) != nbytes:
        raise ValueError(f"expected {nbytes} bytes of pixels, found {len(data)}")
    return np.frombuffer(data, dtype=dtype).reshape(height, width)[::-1].astype(np.float32), 1.0
