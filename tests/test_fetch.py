"""fetch() against a local HTTP server serving a copy of the post's images (no internet)."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import socket
import threading
import urllib.request
from functools import partial
from pathlib import Path

import pytest

from initlab import DataError, InitlabError, data
from initlab.cli import main
from initlab.data import download as fetch_module
from initlab.data.manifests import MANIFESTS

MANIFEST = MANIFESTS["cats-vs-dogs"]


class Server:
    """A served copy of the images, counting the requests it answers."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):  # quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), partial(Handler, directory=str(root))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(tmp_path, cats_vs_dogs_dir):
    served = tmp_path / "served"
    shutil.copytree(cats_vs_dogs_dir, served)
    s = Server(served)
    yield s
    s.close()


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def cached_files(cache: Path) -> set[str]:
    """Every entry of the dataset folder, hidden ones included."""
    return {p.name for p in (cache / "cats-vs-dogs").iterdir()}


def test_manifest_pins_the_shared_images(cats_vs_dogs_dir):
    files = {p.name: p.read_bytes() for p in cats_vs_dogs_dir.iterdir()}
    assert set(files) == set(MANIFEST) and len(MANIFEST) == 100
    for name, (size, sha) in MANIFEST.items():
        assert (size, sha) == (len(files[name]), hashlib.sha256(files[name]).hexdigest())


def test_fetch_downloads_everything_then_nothing(server, cache, cats_vs_dogs_dir):
    calls = []
    folder = data.fetch(cache=cache, base_url=server.url, progress=lambda *a: calls.append(a))
    assert folder == cache / "cats-vs-dogs"
    assert cached_files(cache) == set(MANIFEST)  # no temporary file left over
    for p in cats_vs_dogs_dir.iterdir():
        assert (folder / p.name).read_bytes() == p.read_bytes()
    assert len(server.requests) == 100
    assert [c[:2] for c in calls] == [(k, 100) for k in range(1, 101)]
    assert data.locate(cache=cache) == folder

    assert data.fetch(cache=cache, base_url=server.url) == folder
    assert len(server.requests) == 100  # the second fetch downloaded nothing


def test_base_url_without_trailing_slash(server, cache):
    data.fetch(cache=cache, base_url=server.url.rstrip("/"))
    assert cached_files(cache) == set(MANIFEST)


@pytest.mark.parametrize("cached", ["deleted", "corrupt too"])
def test_corrupt_download_is_refused_and_not_kept(server, cache, cached):
    data.fetch(cache=cache, base_url=server.url)
    victim = "dog.12460.jpg"
    served = server.root / victim
    raw = bytearray(served.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    served.write_bytes(bytes(raw))
    if cached == "deleted":
        (cache / "cats-vs-dogs" / victim).unlink()
    else:  # a bad cached copy is not kept either, though the new download fails
        (cache / "cats-vs-dogs" / victim).write_bytes(bytes(raw))

    with pytest.raises(DataError) as err:
        data.fetch(cache=cache, base_url=server.url)
    msg = str(err.value)
    assert victim in msg
    assert MANIFEST[victim][1] in msg  # expected hash
    assert hashlib.sha256(bytes(raw)).hexdigest() in msg  # actual hash
    assert cached_files(cache) == set(MANIFEST) - {victim}  # neither the file nor a temp file
    assert data.locate(cache=cache) is None


def test_cached_file_with_wrong_hash_is_downloaded_again(server, cache, cats_vs_dogs_dir):
    folder = data.fetch(cache=cache, base_url=server.url)
    victim = folder / "cat.2700.jpg"
    raw = bytearray(victim.read_bytes())
    raw[100] ^= 0x01  # same size, different content
    victim.write_bytes(bytes(raw))
    assert data.locate(cache=cache) is None

    data.fetch(cache=cache, base_url=server.url)
    assert victim.read_bytes() == (cats_vs_dogs_dir / victim.name).read_bytes()
    assert server.requests[100:] == ["/cat.2700.jpg"]


def test_404_is_a_clear_error(server, cache):
    with pytest.raises(DataError, match=r"cat\.2671\.jpg .*HTTP 404") as err:
        data.fetch(cache=cache, base_url=server.url + "no/such/folder/")
    assert "/no/such/folder/cat.2671.jpg" in str(err.value)
    assert cached_files(cache) == set()


def test_unreachable_server_is_a_clear_error(cache):
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError, match=r"could not download cat\.2671\.jpg"):
        data.fetch(cache=cache, base_url=f"http://127.0.0.1:{port}/", timeout=5)
    assert cached_files(cache) == set()


def test_interrupted_download_leaves_nothing(server, cache, monkeypatch):
    real_urlopen = urllib.request.urlopen

    class Interrupting:
        def __init__(self, response):
            self.response, self.reads = response, 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.response.close()

        def read(self, n):
            self.reads += 1
            if self.reads > 1:
                raise KeyboardInterrupt
            return self.response.read(100)  # part of the file reaches the temp file

    monkeypatch.setattr(
        urllib.request,
        "urlopen",
        lambda url, timeout: Interrupting(real_urlopen(url, timeout=timeout)),
    )
    with pytest.raises(KeyboardInterrupt):
        data.fetch(cache=cache, base_url=server.url)
    assert cached_files(cache) == set()


def test_unknown_dataset_lists_valid_names(cache):
    with pytest.raises(InitlabError, match="cats-vs-dogs"):
        data.fetch("imagenet", cache=cache)
    with pytest.raises(InitlabError, match="cats-vs-dogs"):
        data.locate("imagenet", cache=cache)


def test_cache_dir_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("INITLAB_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert data.cache_dir() == tmp_path / "home" / ".cache" / "initlab"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_dir() == tmp_path / "xdg" / "initlab"
    monkeypatch.setenv("INITLAB_DATA", str(tmp_path / "mine"))
    assert data.cache_dir() == tmp_path / "mine"


def test_load_by_name_uses_the_cache(server, tmp_path, monkeypatch, cats_vs_dogs):
    monkeypatch.setenv("INITLAB_DATA", str(tmp_path / "env-cache"))
    with pytest.raises(DataError, match="initlab data fetch cats-vs-dogs"):
        data.load("cats-vs-dogs")
    data.fetch(base_url=server.url)
    ds = data.load("cats-vs-dogs")
    assert (ds.X == cats_vs_dogs.X).all() and ds.example_ids == cats_vs_dogs.example_ids


# --------------------------------------------------------------------------- CLI


def test_cli_fetch_list_info(server, cache, capsys, monkeypatch):
    assert main(["data", "fetch", "--base-url", server.url, "--cache", str(cache)]) == 0
    out = capsys.readouterr().out
    assert str(cache / "cats-vs-dogs") in out
    assert cached_files(cache) == set(MANIFEST)

    assert main(["data", "fetch", "--quiet", "--base-url", server.url, "--cache", str(cache)]) == 0
    assert capsys.readouterr().out.strip() == str(cache / "cats-vs-dogs")
    assert len(server.requests) == 100

    monkeypatch.setenv("INITLAB_DATA", str(cache))
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and f"cached in {cache / 'cats-vs-dogs'}" in out

    assert main(["data", "info", "cats-vs-dogs"]) == 0
    out = capsys.readouterr().out
    assert "67500" in out and "150 x 150 x 3" in out and "label 1: 50 (50.0%)" in out


def test_cli_fetch_error_is_one_line(server, cache, capsys):
    code = main(["data", "fetch", "--base-url", server.url + "missing/", "--cache", str(cache)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("initlab data: error:") and "HTTP 404" in err
    assert "Traceback" not in err


def test_fetch_module_never_prints(server, cache, capsys):
    fetch_module.fetch(cache=cache, base_url=server.url)
    assert capsys.readouterr() == ("", "")
