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
    zip_bomb(tmp_path / "bomb.npz")
    np.savez(tmp_path / "labels.npz", X=np.zeros((2, 3)), y=np.array([0, 10**9]))
    np.savez(tmp_path / "neg.npz", X=np.zeros((2, 3)), y=np.array([0, -1]))
    import h5py

    with h5py.File(tmp_path / "huge.h5", "w") as h5:  # declared, never written: tiny file
        h5.create_dataset("train_x", shape=(100_000, 64, 64, 3), dtype="u1", chunks=True)
        h5.create_dataset("train_y", shape=(100_000,), dtype="i8", chunks=True)
    os.mkfifo(tmp_path / "pipe.npz")
    return tmp_path


CASES = [
    (["text.npz"], ["text.npz is not an npz archive", "zip archive"]),
    (["single.npz"], ["holds a single .npy array"]),
    (["bomb.npz"], ["X in", "declared 100000 x 64000 uint8", "of memory", "refused before"]),
    (["labels.npz"], ["labels up to 1,000,000,000", "classes"]),
    (["neg.npz"], ["must hold integer class labels", "found -1"]),
    (["huge.h5"], ["train_x", "declared 100000 x 64 x 64 x 3 uint8", "of memory"]),
    (["pipe.npz"], ["pipe.npz", "is a FIFO (named pipe), not a regular file"]),
    (["nowhere.npz"], ["does not exist"]),
]


@pytest.mark.parametrize(("argv", "contains"), CASES, ids=lambda v: " ".join(v)[:40])
def test_info_refused_in_one_line(argv, contains, files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    line = refused(["--max-memory", "1G", "data", "info", *argv], capsys, files, *contains)
    assert "allow_pickle" not in line and "pickle" not in line


def test_zip_bomb_refused_under_a_memory_limit(tmp_path):
    """Only the header is read: in a child limited to 3 GiB, the 6.4 GB array is refused by
    its declared size (with the machine's own memory limit, not a smaller one given)."""
    zip_bomb(tmp_path / "bomb.npz", shape=(1_000_000, 640_000))  # 640 GB declared
    refused_limited(["data", "info", "bomb.npz"], tmp_path, "declared", "of memory")


def test_labels_refused_under_a_memory_limit(tmp_path):
    """Labels {0, 10^9} with a softmax head: no 10^9 class names are built."""
    np.savez(tmp_path / "l.npz", X=np.zeros((2, 3)), y=np.array([0, 10**12]))
    refused_limited(["data", "info", "l.npz"], tmp_path, "classes")


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


def test_fetch_is_bounded_by_the_manifest(tmp_path):
    """A file:// 'mirror' whose first file is a link to /dev/zero: the download stops at the
    manifest's size plus one byte and is refused, instead of reading for ever."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    first = sorted(manifests.MANIFESTS["cats-vs-dogs"])[0]
    (mirror / first).symlink_to("/dev/zero")
    argv = ["data", "fetch", "--cache", str(tmp_path / "cache"), "--quiet",
            "--base-url", mirror.as_uri() + "/"]  # fmt: skip
    p = limited(argv, tmp_path, timeout=60)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert "larger than the manifest's" in lines[0] and first in lines[0]
    assert not [f for f in (tmp_path / "cache").rglob("*") if f.is_file()]  # nothing kept
