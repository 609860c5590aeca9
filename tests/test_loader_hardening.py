"""Scene loaders against hostile uploads: each attack goes through the real loader (load_depth / load_rgb /
load_scene), which must refuse it with a one-line SceneError, read nothing it should not, and stay small
in memory while refusing (measured in a child process)."""

import io
import json
import struct
import subprocess
import sys
import tokenize
import warnings
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from spatial_ssrl.scenes import loaders
from spatial_ssrl.scenes.loaders import (
    BLOCK_SLACK_BYTES,
    MAX_BYTES_PER_PIXEL,
    MAX_HDF5_CHUNKS,
    MAX_NPZ_DIRECTORY_BYTES,
    MAX_PIXELS,
    MAX_REASON_CHARS,
    NPY_MAX_HEADER_BYTES,
    load_depth,
    load_rgb,
    load_scene,
)
from spatial_ssrl.scenes.scene import SceneError

RNG = np.random.default_rng(11)
DEPTH = RNG.uniform(0.5, 20.0, (48, 64)).astype(np.float32)
SECRET = b"root:x:0:0:SECRET-MARKER:/root:/bin/bash\n" * 64
MB = 1 << 20


def refused(call, *args, match: str, **kwargs) -> str:
    """Run a loader that must refuse; return its one-line message."""
    with pytest.raises(SceneError, match=match) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    assert "SECRET-MARKER" not in message
    return message


def npy_header(descr, shape, version=(1, 0)) -> bytes:
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    write = np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0
    write(buffer, header)
    return buffer.getvalue()


def zeros_deflated(size: int, zlib_wrapper: bool = False) -> bytes:
    """`size` zero bytes deflated, in about a tenth of a second per GB: after a full flush, every 16 MiB
    block of zeros compresses to the same bytes, so one block is compressed and repeated."""
    block = 1 << 24
    assert size % block == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, 15 if zlib_wrapper else -15)
    zero = bytes(block)
    first = compressor.compress(zero) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(zero) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert first.endswith(again)
    end = compressor.flush()
    if zlib_wrapper:  # the zlib trailer: Adler-32 of everything
        adler = 1
        for _ in range(size // block):
            adler = zlib.adler32(zero, adler)
        end = end[:-4] + struct.pack(">I", adler)
    return first[:len(first) - len(again)] + again * (size // block) + end


def zip_archive(name: str, compressed: bytes, *, size: int, method: int = zipfile.ZIP_DEFLATED, crc: int = 0) -> bytes:
    """A one-member zip written by hand, so that the directory may declare what a forger wants."""
    encoded = name.encode()
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(compressed), size, len(encoded), 0)
    central = struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, len(compressed), size,
                          len(encoded), 0, 0, 0, 0, 0, 0)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(encoded),
                      len(local) + len(encoded) + len(compressed), 0)
    return local + encoded + compressed + central + encoded + end


def tiff_with(data: bytes, tag: str, value: int) -> bytes:
    """A TIFF with one inline tag value overwritten (a forged header)."""
    patched = bytearray(data)
    with tifffile.TiffFile(io.BytesIO(data)) as tiff:
        entry = tiff.pages[0].tags[tag]
        struct.pack_into({3: "<H", 4: "<I", 16: "<Q"}[entry.dtype], patched, entry.valueoffset, value)
    return bytes(patched)


def tiff_bytes(array, **kwargs) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **kwargs)
    return buffer.getvalue()


# --- hostile files, built once per module ------------------------------------------------------

def npz_declaring_two_gigabytes() -> bytes:
    """The issue's file: a 2 MB .npz whose member declares 16384x16384 float64 (2 GiB) of real zeros."""
    header = npy_header("<f8", (16384, 16384))
    size = 16384 * 16384 * 8
    crc = zlib.crc32(header)
    zero = bytes(1 << 24)
    for _ in range(size // len(zero)):
        crc = zlib.crc32(zero, crc)
    stream = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = stream.compress(header) + stream.flush(zlib.Z_FULL_FLUSH)
    return zip_archive("depth.npy", head + zeros_deflated(size), size=len(header) + size, crc=crc)


def npz_with_forged_header_length() -> bytes:
    """A .npz member whose version-2 .npy header claims 4 GB of header, followed by 256 MiB of zeros:
    numpy would inflate all of them looking for the header's end."""
    prefix = b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFF0)
    stream = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = stream.compress(prefix) + stream.flush(zlib.Z_FULL_FLUSH)
    return zip_archive("depth.npy", head + zeros_deflated(256 * MB), size=len(prefix) + 256 * MB)


def npz_with_many_members() -> bytes:
    """40,000 empty members (3 MB): zipfile would build 20 MB of entry objects before any check."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index in range(40_000):
            archive.writestr(str(index), b"")
    return buffer.getvalue()


def npy_with_subarray_dtype() -> bytes:
    """Four 'pixels' whose element is a 4096x4096 float64 sub-array: 512 MiB once numpy expands it."""
    text = "{'descr': ('<f8', (4096, 4096)), 'fortran_order': False, 'shape': (4,), }"
    text += " " * (63 - (10 + len(text)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1") + bytes(MB)


def hdf5_gzip_bomb() -> bytes:
    """A 64x64 float32 dataset (16 KiB chunks) whose one gzip chunk inflates to 256 MiB."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as store:
        dataset = store.create_dataset("depth", data=np.ones((64, 64), np.float32), chunks=(64, 64), compression="gzip")
        dataset.id.write_direct_chunk((0, 0), zeros_deflated(256 * MB, zlib_wrapper=True))
    return buffer.getvalue()


def hdf5_declaring_a_huge_dataset() -> bytes:
    """A dataset declared 100000x100000 float32 (40 GB), none of it written: a tiny file."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as store:
        store.create_dataset("depth", shape=(100_000, 100_000), dtype="f4", chunks=(256, 256), compression="gzip")
    return buffer.getvalue()


def tiff_deflate_bomb() -> bytes:
    """A 64x64 float32 deflate TIFF whose single strip inflates to 256 MiB."""
    data = bytearray(tiff_bytes(np.ones((64, 64), np.float32), compression="zlib", rowsperstrip=64))
    bomb = zeros_deflated(256 * MB, zlib_wrapper=True)
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tiff:
        offsets, counts = tiff.pages[0].tags["StripOffsets"], tiff.pages[0].tags["StripByteCounts"]
    struct.pack_into("<I", data, offsets.valueoffset, len(data))
    struct.pack_into("<I", data, counts.valueoffset, len(bomb))
    return bytes(data) + bomb


def tiff_declaring_a_huge_image() -> bytes:
    data = tiff_bytes(np.ones((64, 64), np.float32), compression="zlib")
    return tiff_with(tiff_with(data, "ImageWidth", 100_000), "ImageLength", 100_000)


def png16_declaring_a_huge_image() -> bytes:
    """A 16-bit grey PNG header claiming 20000x20000 (400 Mpx): Pillow's own bomb error range."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 16, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


HOSTILE = {
    # case: (file name, builder, what the refusal says)
    "npz declaring 2 GiB": ("bomb.npz", npz_declaring_two_gigabytes, "exceeds the cap of 50,000,000 pixels"),
    "npz forged header length": ("header.npz", npz_with_forged_header_length, "header length"),
    "npz with 40,000 members": ("members.npz", npz_with_many_members, "the .npz directory takes 2,028,890 bytes"),
    "npy sub-array dtype": ("subarray.npy", npy_with_subarray_dtype, "exceeds the cap"),
    "hdf5 gzip chunk bomb": ("bomb.h5", hdf5_gzip_bomb, "decompression bomb"),
    "hdf5 declaring 40 GB": ("huge.h5", hdf5_declaring_a_huge_dataset, "exceeds the cap"),
    "tiff deflate bomb": ("bomb.tif", tiff_deflate_bomb, "truncated or corrupt"),
    "tiff declaring 40 GB": ("huge.tif", tiff_declaring_a_huge_image, "exceeds the cap"),
    "16-bit png declaring 400 Mpx": ("huge.png", png16_declaring_a_huge_image, "decompression bomb"),
}


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    paths = {}
    for case, (file_name, build, _) in HOSTILE.items():
        paths[case] = folder / file_name
        paths[case].write_bytes(build())
    return paths


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_files_are_refused_in_one_line(hostile_files, case):
    path = hostile_files[case]
    refused(load_depth, path, match=rf"{path.name}: .*{HOSTILE[case][2]}")
    refused(load_depth, path.read_bytes(), match=HOSTILE[case][2])  # an upload: bytes


MEASURE_REFUSAL = r'''
import json, resource, sys
import numpy as np, h5py, tifffile, imagecodecs
from PIL import Image
from spatial_ssrl.scenes.loaders import load_depth
from spatial_ssrl.scenes.scene import SceneError

np.save(sys.argv[2] + "/warm.npy", np.ones((16, 16), np.float32))
load_depth(sys.argv[2] + "/warm.npy")  # first-use costs (lazy imports, allocator arenas) are not the file's
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = {}
for how in ("path", "upload"):  # an upload is read into memory first: the file's size is expected there
    try:
        load_depth(sys.argv[1] if how == "path" else open(sys.argv[1], "rb"))
        report[how] = "loaded"
    except SceneError as error:
        report[how] = str(error)
    report[how + "_growth"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024  # KiB on Linux
print(json.dumps(report))
'''


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
@pytest.mark.parametrize("case", list(HOSTILE))
def test_refusing_a_hostile_file_takes_no_more_memory_than_the_file(hostile_files, case, tmp_path):
    """Peak memory while refusing (from a path, then as an upload) stays under the file's size plus 20 MB:
    sizes are checked from the headers before anything is inflated or allocated. Measured in a fresh
    process, since ru_maxrss is a peak."""
    path = hostile_files[case]
    result = subprocess.run([sys.executable, "-c", MEASURE_REFUSAL, str(path), str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    budget = path.stat().st_size + 20 * MB
    for how in ("path", "upload"):
        assert HOSTILE[case][2] in report[how], report[how]
        assert report[how + "_growth"] < budget, f"{case}: grew {report[how + '_growth'] / MB:.1f} MB refusing it"


# --- HDF5: data from other files, links ------------------------------------------------------------

@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "passwd"
    path.write_bytes(SECRET)
    return path


@contextmanager
def no_data_reads(monkeypatch):
    """Fail the test if any HDF5 dataset data is read inside (the refusal must come first)."""
    def read(*args, **kwargs):
        pytest.fail("dataset data was read")

    with monkeypatch.context() as patch:
        for owner, attribute in [(h5py.Dataset, "__getitem__"), (h5py.Dataset, "read_direct"),
                                 (loaders, "_inflate_chunks")]:
            patch.setattr(owner, attribute, read)
        yield


def test_hdf5_external_storage_is_refused_before_reading(tmp_path, secret, monkeypatch):
    path = tmp_path / "evil.h5"
    with h5py.File(path, "w") as store:
        store.create_dataset("depth", shape=(32, 40), dtype="u1", external=[(str(secret), 0, 32 * 40)])
    with h5py.File(path, "r") as store:  # the attack is real: plain h5py returns the secret as the depth map
        assert store["depth"][()].tobytes() == SECRET[:32 * 40]
    with no_data_reads(monkeypatch):
        for source in (path, path.read_bytes, lambda: io.BytesIO(path.read_bytes())):  # path, bytes, upload
            fresh = source if isinstance(source, Path) else source()
            refused(load_depth, fresh, match=r"'depth' is stored in external files, refused \(it reads other files")
            fresh = source if isinstance(source, Path) else source()
            refused(load_scene, _png(40, 32), fresh, match="stored in external files")


def _png(width, height) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_hdf5_prefix_blocks_relative_external_files_even_if_the_check_is_bypassed(tmp_path, secret, monkeypatch):
    """The second guard: with the refusal switched off, a relative external name ('../passwd', resolved
    against the working directory) still reads nothing, since it resolves under /dev/null."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    path = tmp_path / "relative.h5"
    with h5py.File(path, "w") as store:
        store.create_dataset("depth", shape=(32, 40), dtype="u1", external=[("../passwd", 0, 32 * 40)])
    with h5py.File(path, "r") as store:  # plain h5py follows it
        assert store["depth"][()].tobytes() == SECRET[:32 * 40]
    monkeypatch.setattr(loaders, "_check_hdf5_storage", lambda dataset, name: None)
    message = refused(load_depth, path, match=r"relative\.h5: cannot read it as an HDF5 file")
    assert "external raw data file" in message


def test_hdf5_virtual_dataset_is_refused_before_reading(tmp_path, monkeypatch):
    source = tmp_path / "other_upload.h5"
    with h5py.File(source, "w") as store:
        store["data"] = DEPTH
    layout = h5py.VirtualLayout(shape=DEPTH.shape, dtype="f4")
    layout[:] = h5py.VirtualSource(str(source), "data", shape=DEPTH.shape)
    path = tmp_path / "virtual.h5"
    with h5py.File(path, "w") as store:
        store.create_virtual_dataset("depth", layout)
    with h5py.File(path, "r") as store:  # plain h5py reads another file's data
        assert np.array_equal(store["depth"][()], DEPTH)
    with no_data_reads(monkeypatch):
        refused(load_depth, path, match=r"virtual\.h5: 'depth' is a virtual dataset \(VDS\), refused")


@pytest.mark.parametrize("link, what", [
    (lambda other: h5py.SoftLink("/hidden/real"), "a soft link"),
    (lambda other: h5py.ExternalLink(str(other), "/data"), "an external link"),
])
def test_hdf5_soft_and_external_links_are_refused_before_reading(tmp_path, link, what, monkeypatch):
    """Checked on the link itself (its type), before the dataset is opened or any data read."""
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as store:
        store["data"] = DEPTH
    path = tmp_path / "linked.h5"
    with h5py.File(path, "w") as store:
        store["hidden/real"] = DEPTH
        store["depth"] = link(other)
    with no_data_reads(monkeypatch):
        refused(load_depth, path, match=rf"linked\.h5: 'depth' is {what}, refused")


def test_hdf5_listing_of_datasets_follows_no_link(tmp_path, monkeypatch):
    """Without 'depth', the message lists datasets reached through hard links only: soft links (even to
    groups) and external links, also inside groups, are neither followed nor listed."""
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as store:
        store["secret_dataset"] = DEPTH
    path = tmp_path / "links.h5"
    with h5py.File(path, "w") as store:
        store["disparity"] = DEPTH
        store["meta/intrinsics"] = np.eye(3)
        store["meta/elsewhere"] = h5py.ExternalLink(str(other), "/")
        store["alias"] = h5py.SoftLink("/meta")
        store["dangling"] = h5py.SoftLink("/nowhere")
    with no_data_reads(monkeypatch):
        message = refused(load_depth, path, match=r"no dataset named 'depth' \(found: 'disparity', 'meta/intrinsics'\)")
    assert "secret_dataset" not in message and "alias" not in message


def test_hdf5_depth_that_is_a_group_or_holds_no_numbers(tmp_path):
    with h5py.File(tmp_path / "group.h5", "w") as store:
        store["depth/inner"] = DEPTH
    refused(load_depth, tmp_path / "group.h5", match="'depth' is a group or a named type, not a dataset")
    with h5py.File(tmp_path / "strings.h5", "w") as store:
        store["depth"] = np.array([["a" * 10] * 10] * 10, dtype=h5py.string_dtype())
    refused(load_depth, tmp_path / "strings.h5", match="the 'depth' dataset holds object values, not numbers")
    with h5py.File(tmp_path / "empty.h5", "w") as store:
        store["depth"] = h5py.Empty("f4")
    refused(load_depth, tmp_path / "empty.h5", match="holds float32 with no data, not numbers")


def test_hdf5_oversized_chunk_and_unaccepted_filters_are_refused(tmp_path):
    with h5py.File(tmp_path / "chunk.h5", "w") as store:  # a 400 MB chunk for a 16 KB array
        store.create_dataset("depth", shape=(64, 64), maxshape=(None, None), dtype="f4", chunks=(10_000, 10_000),
                             compression="gzip")
    refused(load_depth, tmp_path / "chunk.h5", match=r"a chunk of 400,000,000 bytes for an array of 16,384 bytes")
    with h5py.File(tmp_path / "lzf.h5", "w") as store:
        store.create_dataset("depth", data=DEPTH, compression="lzf")
    refused(load_depth, tmp_path / "lzf.h5", match=r"the HDF5 filter lzf \(32000\), which is not accepted")
    with h5py.File(tmp_path / "checksum.h5", "w") as store:
        store.create_dataset("depth", data=DEPTH, fletcher32=True)
    refused(load_depth, tmp_path / "checksum.h5", match=r"HDF5 filter fletcher32 \(3\)")
    with h5py.File(tmp_path / "tiny_chunks.h5", "w") as store:
        store.create_dataset("depth", shape=(300, 300), dtype="f4", chunks=(1, 1), compression="gzip")
    refused(load_depth, tmp_path / "tiny_chunks.h5",
            match=rf"'depth' is cut into 90,000 chunks, over {MAX_HDF5_CHUNKS:,}")
    assert BLOCK_SLACK_BYTES == 1 << 20


@pytest.mark.parametrize("options", [
    {"compression": "gzip", "chunks": (16, 16)},
    {"compression": "gzip", "compression_opts": 1, "shuffle": True, "chunks": (20, 24)},  # partial edge chunks
    {"compression": "gzip", "chunks": (48, 64), "dtype": ">f4"},
    {"compression": "gzip", "shuffle": True, "chunks": (7, 9), "dtype": "<u2", "scale": 1000},
])
def test_hdf5_gzip_chunks_decoded_here_equal_hdf5s_own(tmp_path, options):
    options = dict(options)
    dtype, scale = options.pop("dtype", "<f4"), options.pop("scale", 1)
    stored = (DEPTH * scale).astype(dtype)
    with h5py.File(tmp_path / "d.h5", "w") as store:
        store.create_dataset("depth", data=stored, **options)
    with h5py.File(tmp_path / "d.h5", "r") as store:
        expected = store["depth"][()].astype(np.float32)
    assert np.array_equal(load_depth(tmp_path / "d.h5"), expected)


def test_hdf5_missing_chunks_take_the_fill_value(tmp_path):
    with h5py.File(tmp_path / "sparse.h5", "w") as store:
        dataset = store.create_dataset("depth", shape=(48, 64), dtype="f4", chunks=(16, 16), compression="gzip",
                                       fillvalue=7.5)
        dataset[:16, :16] = DEPTH[:16, :16]
        dataset[32:, 48:] = -1.0
    with h5py.File(tmp_path / "sparse.h5", "r") as store:
        expected = store["depth"][()]
    expected[expected <= 0] = np.nan
    assert np.array_equal(load_depth(tmp_path / "sparse.h5"), expected, equal_nan=True)
    assert np.count_nonzero(expected == 7.5) == 48 * 64 - 2 * 16 * 16


def test_hdf5_chunk_stored_without_its_filter(tmp_path):
    """HDF5 may store a chunk with a filter skipped (its bit set in the chunk's filter mask)."""
    with h5py.File(tmp_path / "mixed.h5", "w") as store:
        dataset = store.create_dataset("depth", data=DEPTH, chunks=(16, 64), compression="gzip", shuffle=True)
        raw = np.ascontiguousarray(DEPTH[16:32] * 2)
        shuffled = raw.view(np.uint8).reshape(-1, 4).T.tobytes()
        dataset.id.write_direct_chunk((16, 0), shuffled, filter_mask=0b10)  # gzip skipped, shuffle applied
    with h5py.File(tmp_path / "mixed.h5", "r") as store:
        expected = store["depth"][()]
    assert np.array_equal(expected[16:32], DEPTH[16:32] * 2)
    assert np.array_equal(load_depth(tmp_path / "mixed.h5"), expected)


def test_hdf5_official_samples_still_load_identically(official_dir):
    for index in (1, 2):
        path = official_dir / f"RGB-D_depth{index}.h5"
        with h5py.File(path, "r") as store:
            stored = store["depth"][()]
        depth = load_depth(path)
        assert np.array_equal(np.isfinite(depth), stored > 0)
        assert np.array_equal(depth[stored > 0], stored[stored > 0])


# --- .npy / .npz: sizes from the headers -----------------------------------------------------------

def test_npy_item_size_cap_refuses_arrays_within_the_pixel_cap(tmp_path):
    header = npy_header("<c16", (5000, 6000))  # 30 Mpx, under the pixel cap, but 480 MB
    (tmp_path / "wide.npy").write_bytes(header + bytes(64))
    cap = MAX_PIXELS * MAX_BYTES_PER_PIXEL
    refused(load_depth, tmp_path / "wide.npy", match=rf"6000x5000 of complex128 takes 480,000,000 bytes, over the cap "
                                                   rf"of {cap:,}")
    refused(load_depth, tmp_path / "wide.npy", max_pixels=1000, match="exceeds the cap of 1,000 pixels")


def test_npy_sub_array_dtype_counts_its_element(tmp_path):
    (tmp_path / "sub.npy").write_bytes(npy_with_subarray_dtype())
    refused(load_depth, tmp_path / "sub.npy", match=r"shape \(4, 4096, 4096\) = 67,108,864 pixels exceeds the cap")


def test_npy_forged_or_truncated_headers(tmp_path):
    (tmp_path / "long.npy").write_bytes(b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFF0) + bytes(100))
    refused(load_depth, tmp_path / "long.npy",
            match=rf"long\.npy: cannot read it as a \.npy array .*header length 4,294,967,280 is missing or over "
                  rf"{NPY_MAX_HEADER_BYTES:,}")
    (tmp_path / "short.npy").write_bytes(npy_header("<f4", (48, 64)) + bytes(100))
    refused(load_depth, tmp_path / "short.npy", match=r"declares 12,288 bytes of array data, the file holds 100")
    (tmp_path / "negative.npy").write_bytes(npy_header("<f4", (-48, 64)) + bytes(100))
    refused(load_depth, tmp_path / "negative.npy", match=r"has a negative side")
    (tmp_path / "garbage.npy").write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", 20) + b"{'descr': [[[[[[[[[\n")
    refused(load_depth, tmp_path / "garbage.npy", match=r"garbage\.npy: cannot read it as a \.npy array")


def test_npz_members_are_checked_from_their_headers_and_the_zip_directory(tmp_path):
    header = npy_header("<f4", (48, 64))
    data = header + DEPTH.tobytes()
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = compressor.compress(data) + compressor.flush()
    good = zip_archive("depth.npy", deflated, size=len(data), crc=zlib.crc32(data))
    assert np.array_equal(load_depth(good), DEPTH)
    short = zip_archive("depth.npy", deflated, size=len(header) + 100, crc=zlib.crc32(data[:len(header) + 100]))
    refused(load_depth, short, match=r"array 'depth' declares 12,288 bytes of data, its zip entry holds 100")
    for method in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):  # decompressed by zipfile without a bound
        refused(load_depth, zip_archive("depth.npy", deflated, size=len(data), method=method),
                match=rf"array 'depth' uses zip compression method {method}; save it with np.savez")
    refused(load_depth, b"PK\x03\x04" + bytes(200), match=r"cannot read it as a \.npz archive .*corrupt")
    assert MAX_NPZ_DIRECTORY_BYTES == 1 << 16
    not_npy = zip_archive("depth", b"plain text", size=10, method=zipfile.ZIP_STORED, crc=zlib.crc32(b"plain text"))
    refused(load_depth, not_npy, match=r"cannot read it as a \.npz archive")


def test_npz_with_an_object_array_is_not_unpickled(tmp_path):
    marker = tmp_path / "unpickled"

    class Touch:
        def __reduce__(self):
            return (Path.touch, (marker,))

    array = np.empty((40, 40), dtype=object)
    array[0, 0] = Touch()
    np.savez(tmp_path / "objects.npz", depth=array)
    refused(load_depth, tmp_path / "objects.npz", match=r"array 'depth' holds Python objects .*pickled data is refused")
    assert not marker.exists()


# --- PNG / Pillow ----------------------------------------------------------------------------------

def test_pillow_bomb_warning_range_is_refused_without_a_warning(monkeypatch):
    """Pillow warns from MAX_IMAGE_PIXELS and raises from twice that; both become our refusal when our cap is
    lower, and its warning is not shown when the caller's cap is higher."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)
    image = _png(64, 48)  # 3,072 pixels: Pillow's warning range
    depth = io.BytesIO()
    Image.fromarray((DEPTH * 1000).astype(np.uint16)).save(depth, "PNG")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        refused(load_rgb, image, max_pixels=1500, match=r"refused as a possible decompression bomb \(Image size \(3072")
        refused(load_depth, depth.getvalue(), max_pixels=1500, match="refused as a possible decompression bomb")
        assert load_rgb(image).shape == (48, 64, 3)  # our default cap is higher: no warning, no refusal
        assert load_depth(depth.getvalue()).shape == (48, 64)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # over twice the limit: Pillow's error
    refused(load_rgb, image, match="refused as a possible decompression bomb")


def test_sixteen_bit_png_header_claiming_a_huge_image(hostile_files):
    refused(load_depth, hostile_files["16-bit png declaring 400 Mpx"],
            match=r"huge\.png: refused as a possible decompression bomb .*the cap is 50,000,000 pixels")


# --- TIFF --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("compression", ["lzw", "adobe_deflate"])
def test_lzw_and_deflate_float_tiffs_load(tmp_path, compression):
    tifffile.imwrite(tmp_path / "d.tif", DEPTH, compression=compression)
    with tifffile.TiffFile(tmp_path / "d.tif") as tiff:
        assert tiff.pages[0].compression.name == compression.upper()
    assert np.array_equal(load_depth(tmp_path / "d.tif"), DEPTH)


def test_a_missing_tiff_codec_is_named_not_called_corrupt(tmp_path, monkeypatch):
    tifffile.imwrite(tmp_path / "lzw.tif", DEPTH, compression="lzw")
    tifffile.imwrite(tmp_path / "deflate.tif", DEPTH, compression="adobe_deflate")
    tifffile.imwrite(tmp_path / "plain.tif", DEPTH)
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # as if it were not installed
    for name, label in [("lzw.tif", "LZW"), ("deflate.tif", "ADOBE_DEFLATE")]:
        message = refused(load_depth, tmp_path / name,
                          match=rf"{name}: TIFF compression {label} needs the imagecodecs package \(pip install")
        assert "corrupt" not in message
    assert np.array_equal(load_depth(tmp_path / "plain.tif"), DEPTH)  # uncompressed needs no codec


def test_tiff_forged_headers(tmp_path):
    data = tiff_bytes(np.ones((64, 64), np.float32), compression="zlib", tile=(16, 16))
    huge_tile = tiff_with(tiff_with(data, "TileWidth", 65520), "TileLength", 65520)
    refused(load_depth, huge_tile, match=r"a tile of [\d,]{14} bytes for an array of 16,384 bytes is refused")
    refused(load_depth, tiff_bytes(np.ones((40, 40, 3), np.float32), photometric="rgb"),
            match="a depth TIFF must have one sample per pixel, got 3")
    unknown = tiff_with(tiff_bytes(np.ones((40, 40), np.float32), compression="zlib"), "Compression", 39999)
    message = refused(load_depth, unknown, match="TIFF compression 39999 is not supported")
    assert "corrupt" not in message
    refused(load_depth, tiff_declaring_a_huge_image(), match=r"100000x100000 = 10,000,000,000 pixels exceeds the cap")


# --- PFM ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size_line, match", [
    (b"-64 -48", "has a negative side"),
    (b"-64 48", "has a negative side"),
    (b"4294967296 4294967296", "exceeds the cap"),  # wraps to 0 in 64-bit arithmetic
    (b"99999999999999999999 99999999999999999999", "exceeds the cap"),
    (b"9" * 60, "cannot read it as a PFM image"),
    (b"abc def", "cannot read it as a PFM image"),
    (b"64 48 3", "cannot read it as a PFM image"),
    (b"", "cannot read it as a PFM image"),
])
def test_pfm_sizes_that_are_huge_negative_or_garbage(size_line, match):
    data = b"Pf\n" + size_line + b"\n-1.0\n" + DEPTH.astype("<f4").tobytes()
    refused(load_depth, data, match=match)


def test_pfm_scale_garbage():
    refused(load_depth, b"Pf\n64 48\nnot-a-scale\n" + DEPTH.astype("<f4").tobytes(),
            match="cannot read it as a PFM image")


# --- every decoder failure: one line, naming the file, the problem and what is accepted ----------------

FAILURES = [zipfile.BadZipFile("bad zip"), zipfile.LargeZipFile("zip64 needed"), OSError("h5 says\nno"),
            RuntimeError("h5py internal"), KeyError("missing key"), SyntaxError("bad header"),
            tokenize.TokenError("EOF in multi-line statement", (1, 0)), tifffile.TiffFileError("not a TIFF"),
            MemoryError(), RecursionError("maximum recursion depth exceeded"), NotImplementedError("codec"),
            OverflowError("Python int too large"), ValueError("x" * 5000 + "\n" + "y" * 50),
            Image.DecompressionBombError("too many pixels")]


@pytest.mark.parametrize("error", FAILURES, ids=lambda error: type(error).__name__)
def test_every_decoder_failure_becomes_a_one_line_scene_error(tmp_path, monkeypatch, error):
    def fail(*args, **kwargs):
        raise error

    np.save(tmp_path / "depth.npy", DEPTH)
    monkeypatch.setattr(np.lib.format, "read_array", fail)
    message = refused(load_depth, tmp_path / "depth.npy",
                      match=r"^depth\.npy: cannot read it as a \.npy array - the file is truncated or corrupt .*; "
                            r"accepted depth:")
    assert len(message) < MAX_REASON_CHARS + 600
    (tmp_path / "photo.png").write_bytes(_png(64, 48))
    monkeypatch.setattr(Image.Image, "load", fail)
    monkeypatch.setitem(sys.modules, "pyspng", None)
    message = refused(load_rgb, tmp_path / "photo.png",
                      match=r"^photo\.png: (the image is truncated or corrupt \(.*\); accepted: PNG|refused as a "
                            r"possible decompression bomb)")
    assert len(message) < MAX_REASON_CHARS + 200


def test_file_names_with_control_characters_stay_on_one_line():
    upload = io.BytesIO(b"not a depth file")
    upload.name = "/uploads/evil\nname\r.npy"
    message = refused(load_depth, upload, match=r"^evil\\nname\\r\.npy: not a depth file")
    assert message.count("evil") == 1


def test_cli_reports_a_hostile_depth_file_in_one_line_without_a_traceback(tmp_path, secret, capsys):
    from spatial_ssrl.cli import main

    (tmp_path / "photo.png").write_bytes(_png(64, 48))
    with h5py.File(tmp_path / "evil.h5", "w") as store:
        store.create_dataset("depth", shape=(48, 64), dtype="u1", external=[(str(secret), 0, 48 * 64)])
    code = main(["generate", "--task", "depth", "--image", str(tmp_path / "photo.png"), "--depth",
                 str(tmp_path / "evil.h5"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "SECRET-MARKER" not in err
    assert err.count("\n") == 1 and "'depth' is stored in external files, refused" in err
