"""Scene loaders: every accepted format, the real reference samples, and every malformed input."""

import io
import pickle
import re
import struct
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from spatial_ssrl.scenes.loaders import MAX_PIXELS, MIN_DEPTH_SIDE, MIN_SIDE, load_depth, load_rgb, load_scene
from spatial_ssrl.scenes.scene import SceneError

RNG = np.random.default_rng(7)
PHOTO = RNG.integers(0, 256, (48, 64, 3), dtype=np.uint8)
DEPTH = RNG.uniform(0.5, 20.0, (48, 64)).astype(np.float32)


def save_image(path, array_or_image, fmt=None, **kwargs):
    path.write_bytes(encoded(array_or_image, fmt or Image.registered_extensions()[path.suffix], **kwargs))
    return path


def encoded(array_or_image, fmt, **kwargs):
    image = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png_with_header(width, height):
    """A PNG whose IHDR claims `width` x `height` RGB pixels, with almost no pixel data behind it."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
            + chunk(b"IEND", b""))


class Touch:
    """Unpickling this creates a file: proof that a loader unpickled something it should have refused."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# --- RGB ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, kwargs", [("PNG", {}), ("WEBP", {"lossless": True}), ("TIFF", {}), ("BMP", {})])
def test_lossless_formats_round_trip_exactly(tmp_path, fmt, kwargs):
    path = save_image(tmp_path / f"photo.{fmt.lower()}", PHOTO, fmt, **kwargs)
    rgb = load_rgb(path)
    assert rgb.dtype == np.uint8 and np.array_equal(rgb, PHOTO)


def test_jpeg_decodes_close_to_the_original(tmp_path):
    smooth = np.repeat(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], 48, axis=0).repeat(3, axis=2)
    rgb = load_rgb(save_image(tmp_path / "photo.jpg", smooth, "JPEG", quality=95))
    assert rgb.shape == (48, 64, 3) and np.abs(rgb.astype(int) - smooth).mean() < 2


def test_transparency_is_composited_on_white():
    rgba = np.dstack([PHOTO, np.full(PHOTO.shape[:2], 255, np.uint8)])
    rgba[:10, :, 3] = 0
    rgba[10:20, :, 3] = 128
    rgb = load_rgb(encoded(rgba, "PNG"))
    assert np.all(rgb[:10] == 255)
    expected_half = (PHOTO[10:20].astype(int) * 128 + 255 * 127 + 127) // 255
    assert np.abs(rgb[10:20].astype(int) - expected_half).max() <= 1
    assert np.array_equal(rgb[20:], PHOTO[20:])


def test_palette_with_transparency_and_grey_alpha():
    palette = Image.fromarray(PHOTO).quantize(16)
    buffer = io.BytesIO()
    palette.save(buffer, "PNG", transparency=0)
    rgb = load_rgb(buffer.getvalue())
    indices = np.asarray(palette)
    assert np.all(rgb[indices == 0] == 255)
    assert np.array_equal(rgb[indices != 0], np.asarray(palette.convert("RGB"))[indices != 0])
    grey_alpha = Image.fromarray(PHOTO[:, :, 0]).convert("LA")
    assert np.array_equal(load_rgb(encoded(grey_alpha, "PNG"))[:, :, 1], PHOTO[:, :, 0])


@pytest.mark.parametrize("mode", ["L", "1", "P", "CMYK", "LAB", "RGBX"])
def test_every_mode_becomes_rgb_uint8(mode):
    image = Image.fromarray(PHOTO).convert(mode)
    rgb = load_rgb(encoded(image, "TIFF"))
    assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb, np.asarray(image.convert("RGB")))


def test_sixteen_bit_and_float_grey_are_rescaled_to_8_bits():
    ramp = np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)
    rgb = load_rgb(encoded(ramp, "PNG"))
    assert rgb[0, 0, 0] == 0 and rgb[-1, -1, 0] == 255
    assert np.abs(rgb[:, :, 0].astype(int) - np.round(ramp / 257)).max() <= 1
    assert np.array_equal(rgb[:, :, 0], rgb[:, :, 2])
    unit = (ramp / 65535).astype(np.float32)
    assert np.abs(load_rgb(encoded(unit, "TIFF"))[:, :, 1].astype(int) - np.round(unit * 255)).max() <= 1


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: show rotated 90 degrees clockwise
    rgb = load_rgb(encoded(PHOTO, "PNG", exif=exif))
    assert np.array_equal(rgb, np.rot90(PHOTO, -1))


def test_bytes_and_open_files_are_accepted(tmp_path):
    path = save_image(tmp_path / "photo.png", PHOTO)
    with open(path, "rb") as stream:
        assert np.array_equal(load_rgb(stream), PHOTO)
    assert np.array_equal(load_rgb(path.read_bytes()), PHOTO)
    assert np.array_equal(load_rgb(str(path)), PHOTO)
    with open(path, encoding="latin-1") as text, pytest.raises(SceneError, match="binary mode"):
        load_rgb(text)


def test_truncated_png_names_the_file_and_the_problem(tmp_path):
    data = encoded(PHOTO, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SceneError, match=r"cut\.png: the image is truncated or corrupt.*accepted: PNG, JPEG"):
        load_rgb(path)


def test_truncated_jpeg_is_refused_not_padded(tmp_path):
    data = encoded(PHOTO, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(SceneError, match=r"cut\.jpg: the image is truncated or corrupt \(image file is truncated"):
        load_rgb(path)


def test_corrupt_bytes_are_not_an_image(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(RNG.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(SceneError, match=r"noise\.png: not a readable image.*accepted: PNG, JPEG, WebP"):
        load_rgb(path)


def test_zero_size_image_is_refused(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(png_with_header(0, 0))
    with pytest.raises(SceneError, match=r"empty\.png: not a readable image.*zero width/height"):
        load_rgb(path)


@pytest.mark.parametrize("shape", [(1, 1, 3), (MIN_SIDE - 1, 200, 3), (200, 5, 3)])
def test_tiny_images_are_refused(tmp_path, shape):
    path = save_image(tmp_path / "tiny.png", np.zeros(shape, np.uint8))
    size = f"{shape[1]}x{shape[0]}"
    with pytest.raises(SceneError, match=rf"tiny\.png: {size} pixels is too small; it must be at least {MIN_SIDE} pixels"):
        load_rgb(path)


def test_decompression_bomb_header_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_with_header(100_000, 100_000))
    with pytest.raises(SceneError, match=r"bomb\.png: refused as a possible decompression bomb.*cap is 50,000,000"):
        load_rgb(path)


def test_pixel_cap_is_checked_from_the_header(tmp_path):
    path = tmp_path / "claims.png"
    path.write_bytes(png_with_header(9000, 6000))  # 54 Mpx claimed, below Pillow's own limit; no pixels
    with pytest.raises(SceneError, match=r"9000x6000 = 54,000,000 pixels exceeds the cap of 50,000,000"):
        load_rgb(path)
    with pytest.raises(SceneError, match=r"64x48 = 3,072 pixels exceeds the cap of 3,000 pixels"):
        load_rgb(encoded(PHOTO, "PNG"), max_pixels=3000)
    assert MAX_PIXELS == 50_000_000


def test_missing_paths_and_wrong_types(tmp_path):
    with pytest.raises(SceneError, match="nothere.png: no such file"):
        load_rgb(tmp_path / "nothere.png")
    with pytest.raises(SceneError, match="it is a directory"):
        load_rgb(tmp_path)
    with pytest.raises(SceneError, match="expected a file path, bytes or a binary file object, got int"):
        load_rgb(42)


# --- depth -------------------------------------------------------------------------------------

def test_npy_depth_2d_and_3d_and_invalid_values(tmp_path):
    depth = DEPTH.copy()
    depth[0, :4] = [0, np.nan, np.inf, -1]
    np.save(tmp_path / "d2.npy", depth)
    np.save(tmp_path / "d3.npy", depth[:, :, None])
    for name in ("d2.npy", "d3.npy"):
        loaded = load_depth(tmp_path / name)
        assert loaded.dtype == np.float32 and loaded.shape == (48, 64)
        assert np.isnan(loaded[0, :4]).all()
        assert np.array_equal(loaded[:, 4:], DEPTH[:, 4:]) and np.array_equal(loaded[1:], DEPTH[1:])


def test_integer_npy_is_kept_in_its_units_unless_scaled(tmp_path):
    np.save(tmp_path / "mm.npy", np.full((40, 40), 1500, np.uint16))
    assert np.all(load_depth(tmp_path / "mm.npy") == 1500)
    assert np.allclose(load_depth(tmp_path / "mm.npy", depth_scale=0.001), 1.5)


def test_pickle_disguised_as_npy_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "evil.npy"
    path.write_bytes(pickle.dumps(Touch(marker)))
    with pytest.raises(SceneError, match=r"evil\.npy: this is a Python pickle.*pickled data is refused"):
        load_depth(path)
    assert not marker.exists()


def test_object_npy_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    array = np.empty((40, 40), dtype=object)
    array[0, 0] = Touch(marker)
    np.save(tmp_path / "objects.npy", array, allow_pickle=True)
    with pytest.raises(SceneError, match=r"objects\.npy: the \.npy holds Python objects.*pickled data is refused"):
        load_depth(tmp_path / "objects.npy")
    with pytest.raises(SceneError, match="pickled data is refused"):
        load_depth(_npy_bytes(DEPTH), mask=tmp_path / "objects.npy")
    assert not marker.exists()


def test_npz_with_depth_key_or_single_array(tmp_path):
    np.savez(tmp_path / "named.npz", rgb=PHOTO, depth=DEPTH)
    np.savez_compressed(tmp_path / "single.npz", anything=DEPTH)
    np.savez(tmp_path / "ambiguous.npz", a=DEPTH, b=DEPTH)
    assert np.array_equal(load_depth(tmp_path / "named.npz"), DEPTH)
    assert np.array_equal(load_depth(tmp_path / "single.npz"), DEPTH)
    with pytest.raises(SceneError, match=r"no array named 'depth' \(found: 'a', 'b'\)"):
        load_depth(tmp_path / "ambiguous.npz")


def test_hdf5_depth_and_missing_key(tmp_path):
    with h5py.File(tmp_path / "good.h5", "w") as store:
        store["depth"] = DEPTH
    with h5py.File(tmp_path / "bad.hdf5", "w") as store:
        store["disparity"] = DEPTH
        store["meta/intrinsics"] = np.eye(3)
    assert np.array_equal(load_depth(tmp_path / "good.h5"), DEPTH)
    assert np.array_equal(load_depth((tmp_path / "good.h5").read_bytes()), DEPTH)
    with pytest.raises(SceneError, match=r"bad\.hdf5: no dataset named 'depth' \(found: 'disparity', "
                                         r"'meta/intrinsics'\); store the depth map"):
        load_depth(tmp_path / "bad.hdf5")


def test_sixteen_bit_png_is_millimetres_with_a_configurable_scale(tmp_path):
    millimetres = np.round(DEPTH * 1000).astype(np.uint16)
    millimetres[5, 5] = 0
    path = save_image(tmp_path / "depth.png", millimetres)
    metres = load_depth(path)
    assert np.isnan(metres[5, 5])
    expected = (millimetres.astype(np.float64) * 0.001).astype(np.float32)
    assert np.array_equal(metres[millimetres > 0], expected[millimetres > 0])
    tum = load_depth(path, depth_scale=1 / 5000)  # TUM RGB-D: 5000 units per metre
    assert np.allclose(tum[millimetres > 0], millimetres[millimetres > 0] / 5000, rtol=1e-6)


@pytest.mark.parametrize("array, mode", [(PHOTO[:, :, 0], "L"), (PHOTO, "RGB")])
def test_eight_bit_or_colour_png_is_not_depth(tmp_path, array, mode):
    path = save_image(tmp_path / "visual.png", array)
    with pytest.raises(SceneError, match=rf"visual\.png: a depth PNG must be 16-bit single-channel.*mode {mode}"):
        load_depth(path)


def test_float_and_integer_tiff(tmp_path):
    tifffile.imwrite(tmp_path / "float.tif", DEPTH)
    tifffile.imwrite(tmp_path / "mm.tiff", np.full((40, 40), 2500, np.uint16), compression="zlib")
    save_image(tmp_path / "pil.tif", Image.fromarray(DEPTH, mode="F"))
    assert np.array_equal(load_depth(tmp_path / "float.tif"), DEPTH)
    assert np.array_equal(load_depth(tmp_path / "pil.tif"), DEPTH)
    assert np.allclose(load_depth(tmp_path / "mm.tiff"), 2.5)


def test_pfm_rows_are_stored_bottom_up(tmp_path):
    (tmp_path / "depth.pfm").write_bytes(b"Pf\n64 48\n-1.0\n" + DEPTH[::-1].astype("<f4").tobytes())
    assert np.array_equal(load_depth(tmp_path / "depth.pfm"), DEPTH)
    (tmp_path / "colour.pfm").write_bytes(b"PF\n64 48\n-1.0\n" + np.zeros(64 * 48 * 3, "<f4").tobytes())
    with pytest.raises(SceneError, match=r"colour PFM \(PF\) cannot be depth"):
        load_depth(tmp_path / "colour.pfm")


@pytest.mark.parametrize("content, message", [
    (b"v/1\x01" + b"\0" * 64, "OpenEXR depth cannot be read here"),
    (None, "a JPEG cannot hold depth"),
    (b"hello, depth" * 10, r"unrecognised first bytes b'hello, d'.*accepted depth: \.npy"),
    (b"", "it is empty"),
])
def test_unreadable_depth_formats_say_what_is_accepted(tmp_path, content, message):
    path = tmp_path / "depth.bin"
    path.write_bytes(encoded(PHOTO, "JPEG") if content is None else content)
    with pytest.raises(SceneError, match=rf"depth\.bin: .*{message}"):
        load_depth(path)


def test_truncated_depth_files_are_reported(tmp_path):
    full_npy = _npy_bytes(DEPTH)
    (tmp_path / "cut.npy").write_bytes(full_npy[: len(full_npy) // 2])
    with h5py.File(tmp_path / "full.h5", "w") as store:
        store["depth"] = DEPTH
    h5 = (tmp_path / "full.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(h5[: len(h5) // 3])
    png = encoded(np.round(DEPTH * 1000).astype(np.uint16), "PNG")
    (tmp_path / "cut.png").write_bytes(png[: len(png) // 2])
    for name, kind in [("cut.npy", "a .npy array"), ("cut.h5", "an HDF5 file"), ("cut.png", "a 16-bit depth PNG")]:
        with pytest.raises(SceneError, match=rf"{name}: cannot read it as {kind} - the file is truncated or corrupt"):
            load_depth(tmp_path / name)


def test_npy_header_claiming_a_huge_array_is_refused_before_reading(tmp_path):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (100_000, 100_000)})
    (tmp_path / "huge.npy").write_bytes(buffer.getvalue() + b"\0" * 64)
    with pytest.raises(SceneError, match=r"huge\.npy: 100000x100000 = 10,000,000,000 pixels exceeds the cap"):
        load_depth(tmp_path / "huge.npy")


@pytest.mark.parametrize("fill", [np.nan, 0.0, -2.0, np.inf])
def test_depth_without_valid_pixels(tmp_path, fill):
    np.save(tmp_path / "void.npy", np.full((40, 40), fill, np.float32))
    with pytest.raises(SceneError, match=r"void\.npy: depth has no valid pixels \(every value is 0, negative"):
        load_depth(tmp_path / "void.npy")


@pytest.mark.parametrize("shape", [(64,), (48, 64, 3), (2, 48, 64), ()])
def test_wrong_depth_ndim(tmp_path, shape):
    np.save(tmp_path / "odd.npy", np.ones(shape, np.float32))
    with pytest.raises(SceneError, match=rf"odd\.npy: depth must be a single-channel \(H, W\) or \(H, W, 1\) "
                                         rf"array, got shape {re.escape(str(shape))}"):
        load_depth(tmp_path / "odd.npy")


def test_tiny_depth_is_refused(tmp_path):
    np.save(tmp_path / "dot.npy", np.ones((1, 1), np.float32))
    with pytest.raises(SceneError, match=rf"dot\.npy: 1x1 pixels is too small; it must be at least {MIN_DEPTH_SIDE}"):
        load_depth(tmp_path / "dot.npy", shape=(48, 64))


@pytest.mark.parametrize("array", [np.ones((40, 40), bool), np.ones((40, 40), np.complex64)])
def test_non_numeric_depth(tmp_path, array):
    np.save(tmp_path / "kind.npy", array)
    with pytest.raises(SceneError, match=rf"depth must be numeric \(integer or float\), got dtype {array.dtype}"):
        load_depth(tmp_path / "kind.npy")


@pytest.mark.parametrize("scale", [0, -1.0, float("nan"), float("inf")])
def test_depth_scale_must_be_positive(tmp_path, scale):
    np.save(tmp_path / "d.npy", DEPTH)
    with pytest.raises(SceneError, match="depth_scale must be a positive finite number"):
        load_depth(tmp_path / "d.npy", depth_scale=scale)


def test_validity_mask_and_its_shape(tmp_path):
    np.save(tmp_path / "d.npy", DEPTH[:, :, None])
    mask = np.ones((48, 64), np.float32)
    mask[:10] = 0
    np.save(tmp_path / "m.npy", mask)
    np.save(tmp_path / "bool.npy", (mask > 0)[:, :, None])
    for name in ("m.npy", "bool.npy"):
        masked = load_depth(tmp_path / "d.npy", mask=tmp_path / name)
        assert np.isnan(masked[:10]).all() and np.array_equal(masked[10:], DEPTH[10:])
    np.save(tmp_path / "small.npy", mask[:20, :30])
    with pytest.raises(SceneError, match=r"small\.npy: mask shape \(20, 30\) does not match depth shape \(48, 64\)"):
        load_depth(tmp_path / "d.npy", mask=tmp_path / "small.npy")
    np.save(tmp_path / "none.npy", np.zeros_like(mask))
    with pytest.raises(SceneError, match="no valid pixels after applying the mask"):
        load_depth(tmp_path / "d.npy", mask=tmp_path / "none.npy")


def test_depth_of_another_size_is_resized_by_nearest_neighbour(tmp_path):
    np.save(tmp_path / "half.npy", DEPTH)
    doubled = load_depth(tmp_path / "half.npy", shape=(96, 128))
    assert np.array_equal(doubled, DEPTH.repeat(2, axis=0).repeat(2, axis=1))
    odd = load_depth(tmp_path / "half.npy", shape=(73, 97))  # no new values are invented
    assert odd.shape == (73, 97) and np.isin(odd, DEPTH).all()
    assert np.array_equal(odd[0], DEPTH[0, ((np.arange(97) + 0.5) * 64 / 97).astype(int)])
    with pytest.raises(SceneError, match=r"half\.npy: depth is 64x48 but the image is 64x64; their aspect ratios "
                                         r"differ by more than 2%"):
        load_depth(tmp_path / "half.npy", shape=(64, 64))


# --- scenes ------------------------------------------------------------------------------------

def test_load_scene_records_sources_and_origin(tmp_path):
    image = save_image(tmp_path / "room.png", PHOTO)
    np.save(tmp_path / "room_depth.npy", DEPTH[::2, ::2])  # half resolution: resized to the image
    scene = load_scene(image, tmp_path / "room_depth.npy")
    assert scene.name == "room" and scene.depth_origin == "sensor"
    assert scene.sources == {"rgb": "room.png", "depth": "room_depth.npy"}
    assert scene.depth.shape == (48, 64) and np.array_equal(scene.depth[::2, ::2], DEPTH[::2, ::2])
    rgb_only = load_scene(image.read_bytes(), name="upload")
    assert rgb_only.depth is None and rgb_only.depth_origin is None and rgb_only.name == "upload"
    assert rgb_only.sources == {"rgb": "<bytes>"} and rgb_only.rgb_sha256 == scene.rgb_sha256
    with pytest.raises(SceneError, match="without a depth file"):
        load_scene(image, mask=tmp_path / "room_depth.npy")


def test_official_rgba_sample_becomes_rgb(official_dir):
    raw = np.asarray(Image.open(official_dir / "RGB_img.png"))
    scene = load_scene(official_dir / "RGB_img.png")
    assert raw.shape == (1186, 902, 4) and scene.rgb.shape == (1186, 902, 3)
    assert np.array_equal(scene.rgb, raw[:, :, :3])  # fully opaque: compositing changes nothing


@pytest.mark.parametrize("index, shape, valid, low, high", [
    (1, (1064, 1600), 0.662, 38, 758), (2, (1062, 1600), 0.066, 16, 21.1)])
def test_official_megadepth_samples(official_dir, index, shape, valid, low, high):
    scene = load_scene(official_dir / f"RGB-D_img{index}.jpg", official_dir / f"RGB-D_depth{index}.h5")
    assert scene.rgb.shape == (*shape, 3) and scene.depth.shape == shape
    assert abs(np.isfinite(scene.depth).mean() - valid) < 0.001
    assert low <= np.nanmin(scene.depth) and np.nanmax(scene.depth) <= high
    with h5py.File(official_dir / f"RGB-D_depth{index}.h5") as store:
        stored = store["depth"][()]
    assert np.array_equal(np.isfinite(scene.depth), stored > 0)


def test_official_diode_sample_with_mask(official_dir):
    scene = load_scene(official_dir / "RGB-D_img3.png", official_dir / "RGB-D_depth3.npy",
                       official_dir / "RGB-D_depth_mask3.npy")
    depth = np.load(official_dir / "RGB-D_depth3.npy")[:, :, 0]
    mask = np.load(official_dir / "RGB-D_depth_mask3.npy")
    assert scene.depth.shape == (768, 1024) and scene.sources["mask"] == "RGB-D_depth_mask3.npy"
    assert np.array_equal(np.isfinite(scene.depth), (mask > 0) & (depth > 0))
    assert abs(np.isfinite(scene.depth).mean() - 0.893) < 0.001
    unmasked = load_depth(official_dir / "RGB-D_depth3.npy")
    assert np.isfinite(unmasked).sum() > np.isfinite(scene.depth).sum()  # the mask removes real readings


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


# --- PNG fast path (libspng through pyspng) -------------------------------------------------------

def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(pixels: np.ndarray, colour_type: int, bit_depth: int, *, after_idat: bytes = b"") -> bytes:
    """A PNG written by hand (filter 0 rows): what Pillow cannot write (16-bit RGB), or chunks after IDAT."""
    height, width = pixels.shape[:2]
    rows = pixels.astype(">u2").tobytes() if bit_depth == 16 else pixels.tobytes()
    stride = len(rows) // height
    scanlines = b"".join(b"\0" + rows[i * stride:(i + 1) * stride] for i in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(scanlines))
            + after_idat + png_chunk(b"IEND", b""))


def exif_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def without_fast_path(monkeypatch, data: bytes) -> np.ndarray:
    """What Pillow alone decodes (pyspng made unimportable)."""
    with monkeypatch.context() as patch:
        patch.setitem(__import__("sys").modules, "pyspng", None)
        return load_rgb(data)


@pytest.fixture
def spng_calls(monkeypatch):
    """Count the images libspng decodes."""
    import pyspng

    calls = []
    real = pyspng.load

    def spy(data, *args, **kwargs):
        calls.append(len(data))
        return real(data, *args, **kwargs)

    monkeypatch.setattr(pyspng, "load", spy)
    return calls


def png_variants():
    rgba = np.dstack([PHOTO, RNG.integers(0, 256, PHOTO.shape[:2], dtype=np.uint8)])
    info = __import__("PIL.PngImagePlugin", fromlist=["PngInfo"]).PngInfo()
    info.add_text("Comment", "rendered")
    mentions_exif = __import__("PIL.PngImagePlugin", fromlist=["PngInfo"]).PngInfo()
    mentions_exif.add_text("Comment", "eXIf")  # the cheap scan for an eXIf chunk errs on Pillow's side
    two_frames = io.BytesIO()
    Image.fromarray(PHOTO).save(two_frames, "PNG", save_all=True,
                                append_images=[Image.fromarray(255 - PHOTO)])
    return {
        # name: (PNG bytes, decoded by libspng?)
        "rgb": (encoded(PHOTO, "PNG"), True),
        "rgb, text and gamma chunks": (encoded(PHOTO, "PNG", pnginfo=info, gamma=0.45455), True),
        "rgb, hand-written filter-0 rows": (raw_png(PHOTO, 2, 8), True),
        "rgb, text that spells eXIf": (encoded(PHOTO, "PNG", pnginfo=mentions_exif), False),
        "rgb, 16 bits per channel": (raw_png(PHOTO.astype(np.uint16) * 257 + 3, 2, 16), False),
        "rgb with a transparent colour": (encoded(PHOTO, "PNG", transparency=tuple(int(v) for v in PHOTO[0, 0])), False),
        "rgba": (encoded(rgba, "PNG"), False),
        "grey": (encoded(PHOTO[:, :, 0], "PNG"), False),
        "palette": (encoded(Image.fromarray(PHOTO).quantize(16), "PNG"), False),
        "exif orientation": (encoded(PHOTO, "PNG", exif=exif_orientation(6)), False),
        "exif after the image data": (raw_png(PHOTO, 2, 8, after_idat=png_chunk(b"eXIf", exif_orientation(3))), False),
        "animated": (two_frames.getvalue(), False),
    }


@pytest.mark.parametrize("name", list(png_variants()))
def test_png_fast_path_gives_pillows_pixels_and_is_taken_only_for_plain_rgb(monkeypatch, spng_calls, name):
    data, fast = png_variants()[name]
    expected = without_fast_path(monkeypatch, data)
    spng_calls.clear()
    assert np.array_equal(load_rgb(data), expected)
    assert bool(spng_calls) == fast


def test_png_fast_path_on_the_shipped_pngs(monkeypatch, spng_calls):
    from spatial_ssrl.scenes.assets import ASSETS_DIR

    pngs = sorted(path for path in ASSETS_DIR.glob("*.png") if "depth" not in path.name)
    assert len(pngs) >= 5
    for path in pngs:
        expected = without_fast_path(monkeypatch, path.read_bytes())
        assert np.array_equal(load_rgb(path), expected), path.name
    assert len(spng_calls) == len(pngs)


def test_a_libspng_failure_falls_back_to_pillow(monkeypatch, tmp_path):
    import pyspng

    def broken(*args, **kwargs):
        raise RuntimeError("libspng: simulated failure")

    monkeypatch.setattr(pyspng, "load", broken)
    assert np.array_equal(load_rgb(encoded(PHOTO, "PNG")), PHOTO)
    data = encoded(PHOTO, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SceneError, match=r"cut\.png: the image is truncated or corrupt"):
        load_rgb(path)


FUZZ_PNG_FAST_PATH = r'''
import io, struct, sys, zlib
import numpy as np
from PIL import Image
from spatial_ssrl.scenes.loaders import load_rgb
from spatial_ssrl.scenes.scene import SceneError

rng = np.random.default_rng(0)
buffer = io.BytesIO()
Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(buffer, "PNG")
base = buffer.getvalue()
outcomes = {"loaded": 0, "refused": 0}
for trial in range(1500):
    data = bytearray(base)
    kind = trial % 4
    if kind == 0:  # bit flips after the signature and IHDR type
        for _ in range(int(rng.integers(1, 8))):
            i = int(rng.integers(33, len(data)))
            data[i] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # truncation
        data = data[:int(rng.integers(33, len(data)))]
    elif kind == 2:  # junk inserted
        i = int(rng.integers(33, len(data)))
        data[i:i] = rng.bytes(int(rng.integers(1, 50)))
    else:  # another size or interlace/filter/compression byte in IHDR, CRC fixed (still 8-bit RGB)
        data[16:24] = struct.pack(">II", int(rng.integers(1, 2000)), int(rng.integers(1, 2000)))
        data[26 + int(rng.integers(3))] = int(rng.integers(3))
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    try:
        pixels = load_rgb(bytes(data))
        assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
        outcomes["loaded"] += 1
    except SceneError:
        outcomes["refused"] += 1
print(outcomes)
'''


def test_damaged_plain_pngs_never_crash_the_decoder():
    """libspng is C: damaged 8-bit RGB PNGs (the only ones it is given) must load or be refused, never
    kill the process. Run in a child process, so a crash fails this test instead of the test run."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", FUZZ_PNG_FAST_PATH], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"decoder crashed or failed (exit {result.returncode}): {result.stderr[-2000:]}"
    outcomes = __import__("ast").literal_eval(result.stdout.strip().splitlines()[-1])
    assert outcomes["loaded"] > 0 and outcomes["refused"] > 0
