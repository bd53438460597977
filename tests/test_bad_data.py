"""``initlab data`` (and the loaders every command uses): bad data refused in one line,
before reading it; no read blocks; 16-bit images keep their depth (issue 21)."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

from bad_input import limited, refused, refused_limited
from initlab import data
from initlab.data import manifests


def npy_header(shape, dtype="<u1") -> bytes:
    """A version 1.0 .npy header declaring `shape` (no data after it)."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def zip_bomb(path, shape=(100_000, 64_000)):
    """An npz whose X.npy declares 6.4 GB (uint8) but stores a few zeros, as a zip bomb's
    header would: nothing but the header may be read before the size is refused."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("X.npy", npy_header(shape) + bytes(1 << 16))
        zf.writestr("y.npy", npy_header((shape[0],), "<i8"))
    return path


def write_png16(path, value):
    from PIL import Image

    Image.fromarray(np.full((4, 5), value, dtype=np.uint16)).save(path)


@pytest.fixture
def files(tmp_path):
    """A folder of odd inputs, one per case."""
    (tmp_path / "text.npz").write_text("X,y\n1,0\n")
    np.save(tmp_path / "single.npy", np.zeros(3))
    os.replace(tmp_path / "single.npy", tmp_path / "single.npz")
    np.savez(tmp_path / "neg.npz", X=np.zeros((2, 3)), y=np.array([0, -1]))
    np.savez(tmp_path / "obj.npz", X=np.array([{}, {}], dtype=object), y=np.array([0, 1]))
    os.mkfifo(tmp_path / "pipe.npz")
    return tmp_path


CASES = [
    (["text.npz"], ["text.npz is not an npz archive", "zip archive"]),
    (["single.npz"], ["holds a single .npy array"]),
    (["neg.npz"], ["must hold integer class labels", "found -1"]),
    (["obj.npz"], ["obj.npz", "numeric arrays only"]),
    (["pipe.npz"], ["pipe.npz", "is a FIFO (named pipe), not a regular file"]),
    (["nowhere.npz"], ["does not exist"]),
    (["neg.npz", "--x-key", "Z"], ["neg.npz has no array 'Z'; its arrays are: X, y"]),
    (["digits", "--y-key", "y"], ["x_key/y_key only apply to HDF5 and npz files"]),
]


@pytest.mark.parametrize(("argv", "contains"), CASES, ids=lambda v: " ".join(v)[:40])
def test_info_refused_in_one_line(argv, contains, files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    line = refused(["data", "info", *argv], capsys, files, *contains)
    assert "pickle" not in line  # never the advice to load unsafely


def huge_h5(path):
    """Datasets declared (10,000,000 x 64 x 64 x 3 bytes), never written: a tiny file."""
    import h5py

    with h5py.File(path, "w") as h5:
        h5.create_dataset("train_x", shape=(10_000_000, 64, 64, 3), dtype="u1", chunks=True)
        h5.create_dataset("train_y", shape=(10_000_000,), dtype="i8", chunks=True)


MEMORY = [
    ("bomb.npz", lambda p: zip_bomb(p, shape=(1_000_000, 640_000)), ["X in", "declared"]),
    ("huge.h5", huge_h5, ["train_x", "declared 10000000 x 64 x 64 x 3 uint8"]),
    ("labels.npz", lambda p: np.savez(p, X=np.zeros((2, 3)), y=np.array([0, 10**12])),
     ["labels up to 1,000,000,000,000", "classes"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "make", "contains"), MEMORY, ids=[m[0] for m in MEMORY])
def test_declared_sizes_refused_under_a_memory_limit(name, make, contains, tmp_path):
    """Only headers are read: in a child limited to 3 GiB of address space, a 640 GB npz
    (a zip bomb's header), a 123 GB HDF5 dataset and labels up to 10^12 (10^12 class names)
    are refused by their declared sizes, against the machine's own memory."""
    make(tmp_path / name)
    refused_limited(["data", "info", name], tmp_path, *contains, "of memory")


def image_folder(root, n=3, size=(64, 48)):
    from PIL import Image

    root.mkdir()
    for i in range(n):
        Image.new("RGB", size, (i, 2 * i, 3 * i)).save(root / f"cat.{i}.png")
    return root


def test_image_count_times_size_checked_before_decoding(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    image_folder(tmp_path / "imgs")
    refused(["--max-memory", "100K", "data", "info", "imgs"], capsys, tmp_path,
            "3 images of 64x48 pixels", "of memory")  # fmt: skip


def test_fifo_in_an_image_folder_never_blocks(tmp_path):
    """A FIFO named like an image: refused by name at once (a read would wait forever for a
    writer), both by `data info` and by `run` (subprocess with a timeout)."""
    folder = image_folder(tmp_path / "imgs")
    os.mkfifo(folder / "cat.2.png.fifo")
    os.replace(folder / "cat.2.png.fifo", folder / "cat.9.png")
    line = refused_limited(["data", "info", "imgs"], tmp_path, "cat.9.png", timeout=30)
    assert "FIFO" in line and "regular" in line


def test_sixteen_bit_pngs_are_scaled_not_clipped(tmp_path):
    """16-bit grayscale PNGs are divided by 65535 (8-bit RGB ones by 255), not clipped to
    8 bits: a mid-gray 16-bit pixel reads 0.5, not 1.0."""
    folder = tmp_path / "g"
    folder.mkdir()
    write_png16(folder / "cat.1.png", 32768)
    write_png16(folder / "dog.1.png", 1000)
    ds = data.load(folder)
    assert ds.X.shape == (4 * 5 * 3, 2)
    np.testing.assert_array_equal(ds.X[:, 0], 32768 / 65535)  # cat.1 sorts first
    np.testing.assert_array_equal(ds.X[:, 1], 1000 / 65535)


def test_eight_bit_images_unchanged(tmp_path):
    """The 8-bit path gives exactly k / 255, as before."""
    folder = image_folder(tmp_path / "imgs", n=2, size=(3, 2))
    ds = data.load(folder)
    np.testing.assert_array_equal(ds.X[:3, 1], np.array([1, 2, 3]) / 255.0)


FETCH = [
    ("zero", lambda f: f.symlink_to("/dev/zero"), "is a character device, not a regular file"),
    ("fifo", lambda f: os.mkfifo(f), "is a FIFO"),
    ("large", lambda f: f.write_bytes(bytes(100_000)), "larger than the manifest's"),
]


@pytest.mark.parametrize(("name", "make", "expected"), FETCH, ids=[f[0] for f in FETCH])
def test_fetch_never_reads_without_bound(name, make, expected, tmp_path):
    """A file:// 'mirror' whose first file is a link to /dev/zero, a FIFO, or larger than
    the manifest says: refused at once, or the download stops at the manifest's size plus
    one byte (a child with a timeout); nothing is kept in the cache."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    first = sorted(manifests.MANIFESTS["cats-vs-dogs"])[0]
    make(mirror / first)
    argv = ["data", "fetch", "--cache", str(tmp_path / "cache"), "--quiet",
            "--base-url", mirror.as_uri() + "/"]  # fmt: skip
    p = limited(argv, tmp_path, timeout=60)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert expected in lines[0] and first in lines[0]
    assert not [f for f in (tmp_path / "cache").rglob("*") if f.is_file()]


def test_loading_stays_within_the_checked_size(tmp_path):
    """The sizes the loaders check are upper bounds of what loading holds (tracemalloc's
    peak): an npz array, n (itemsize + 16) bytes; a folder, 24 bytes per pixel channel of
    every image plus two images' worth."""
    import tracemalloc

    X = np.random.default_rng(0).integers(0, 256, (300, 2000), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", X=X, y=np.arange(300) % 2)
    folder = image_folder(tmp_path / "imgs", n=20, size=(120, 90))
    for source, bound in ((tmp_path / "a.npz", X.size * 17 + 300 * 24),
                          (folder, 24 * 120 * 90 * 3 * 20 + 48 * 120 * 90 * 3)):  # fmt: skip
        data.load(source)
        tracemalloc.start()
        try:
            data.load(source)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert bound / 3 < peak <= bound, (source, peak, bound)


@pytest.mark.parametrize("url", ["", "notaurl", "ftp://example.org/x/", "http://"])
def test_fetch_refuses_a_base_url_it_cannot_read(url, capsys, tmp_path, monkeypatch):
    """An empty or scheme-less --base-url was a ValueError traceback from urllib, after
    the cache folder was made: now one line before any work."""
    monkeypatch.chdir(tmp_path)
    argv = ["data", "fetch", "--cache", str(tmp_path / "cache"), "--base-url", url]
    refused(argv, capsys, tmp_path, "--base-url", "http://, https:// or file://")
