"""The shared guards of initlab._limits, on their own."""

from __future__ import annotations

import os

import pytest

from initlab import _limits
from initlab._validation import InitlabError


@pytest.mark.parametrize(
    ("text", "n"), [("8G", 8 * 2**30), ("512M", 512 * 2**20), ("1.5k", 1536), ("100", 100),
                    ("2GiB", 2 * 2**30), ("1T", 2**40)],
)  # fmt: skip
def test_parse_memory(text, n):
    assert _limits.parse_memory(text) == n


@pytest.mark.parametrize("text", ["", "lots", "-1G", "0", "nanG", "infM"])
def test_parse_memory_refuses(text):
    with pytest.raises(InitlabError, match="--max-memory must be a positive size"):
        _limits.parse_memory(text)


def test_max_memory_sets_and_restores_the_limit(monkeypatch):
    monkeypatch.delenv(_limits.MEMORY_ENV, raising=False)
    with _limits.max_memory("1M"):
        assert _limits.memory_limit() == (2**20, True)
        with pytest.raises(InitlabError, match=r"more than the limit of 1\.0 MiB"):
            _limits.check_memory(2**20 + 1, "it")
        _limits.check_memory(2**20, "it")  # at the limit: allowed
    assert _limits.MEMORY_ENV not in os.environ


def test_check_memory_against_what_is_available(monkeypatch):
    monkeypatch.delenv(_limits.MEMORY_ENV, raising=False)
    with pytest.raises(InitlabError, match=r"x needs about 2\.0 GiB of memory and 1\.0 GiB is"):
        _limits.check_memory(2 * 2**30, "x", available=2**30)
    _limits.check_memory(2**30, "x", available=2**30)


def test_check_work():
    _limits.check_work(_limits.FLOPS * _limits.MAX_SECONDS, "x")
    with pytest.raises(InitlabError, match="floating-point operations"):
        _limits.check_work(_limits.FLOPS * _limits.MAX_SECONDS * 1.01, "x")


def test_regular_files_only_and_never_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    for check in (_limits.regular_file, _limits.open_regular):
        with pytest.raises(InitlabError, match=r"is a FIFO \(named pipe\), not a regular file"):
            check(tmp_path / "fifo", "input")
    with pytest.raises(InitlabError, match="is a character device"):
        _limits.open_regular("/dev/zero", "input")
    with pytest.raises(InitlabError, match="is a directory"):
        _limits.regular_file(tmp_path, "input")


def test_read_bounded(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 10)
    assert _limits.read_bounded(tmp_path / "f", 10) == b"x" * 10
    with pytest.raises(InitlabError, match="larger than"):
        _limits.read_bounded(tmp_path / "f", 9)


def test_check_nesting():
    deep: list = []
    for _ in range(_limits.MAX_NESTING):
        deep = [deep]
    _limits.check_nesting({"a": deep[0]})  # 32 levels below the root table: allowed
    with pytest.raises(InitlabError, match=r"a\[0\]\[0\].* nested more than 32"):
        _limits.check_nesting({"a": deep})
    with pytest.raises(InitlabError, match=r"t\.n is an integer of about 20 digits"):
        _limits.check_nesting({"t": {"n": 2**64}})
    _limits.check_nesting({"t": {"n": 2**63 - 1, "b": True}})


def test_messages_are_cut():
    assert _limits.shorten("y" * 50, 10) == "'yyyyyyyyy... (52 characters)"
    line = _limits.clip("a\nb" + "c" * 5000)
    assert "\n" not in line and len(line) < _limits.MAX_LINE + 40


def test_a_numpy_scalar_is_quoted_as_its_number():
    """An optimizer's beta1 arrives as a NumPy scalar: the message shows 2.0, not
    np.float64(2.0) (NumPy 2's repr)."""
    import numpy as np

    from initlab._validation import InitlabError, check_number

    with pytest.raises(InitlabError, match=r"^beta1 must be < 1; got 2\.0$"):
        check_number("beta1", np.float64(2.0), high=1, high_open=True)
    with pytest.raises(InitlabError, match=r"^n must be >= 1; got 0$"):
        check_number("n", np.int64(0), low=1)
