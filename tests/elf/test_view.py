"""The view helpers: symlink walks inside the root, and the symbols that need dlopen."""

from __future__ import annotations

from pathlib import Path

from distroless.elf import DirectoryView, FileKind, dlopen_features, links_on_path, lookup, resolve
from distroless.rootpath import MAX_SYMLINK_HOPS


def _tree(tmp_path: Path) -> DirectoryView:
    root = tmp_path / "root"
    (root / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    (root / "usr/lib/x86_64-linux-gnu/libz.so.1.3").write_bytes(b"\x7fELF")
    (root / "usr/lib/x86_64-linux-gnu/libz.so.1").symlink_to("libz.so.1.3")
    (root / "lib").symlink_to("usr/lib")
    (root / "loop").symlink_to("loop")
    return DirectoryView(root)


def test_resolve_and_lookup(tmp_path: Path) -> None:
    view = _tree(tmp_path)
    assert (
        resolve(view, "/lib/x86_64-linux-gnu/libz.so.1") == "/usr/lib/x86_64-linux-gnu/libz.so.1.3"
    )
    assert resolve(view, "libz.so.1", cwd="/lib/x86_64-linux-gnu").endswith("/libz.so.1.3")
    assert resolve(view, "/lib", follow_last=False) == "/lib"
    found = lookup(view, "/lib/x86_64-linux-gnu/libz.so.1")
    assert found is not None and found[1].kind is FileKind.FILE
    assert lookup(view, "/loop") is None
    assert lookup(view, "/missing/file") is None


def test_links_on_path(tmp_path: Path) -> None:
    view = _tree(tmp_path)
    assert links_on_path(view, "/lib/x86_64-linux-gnu/libz.so.1") == (
        ("/lib", "usr/lib"),
        ("/usr/lib/x86_64-linux-gnu/libz.so.1", "libz.so.1.3"),
    )
    assert links_on_path(view, "/usr/lib/x86_64-linux-gnu/libz.so.1.3") == ()
    assert MAX_SYMLINK_HOPS == 40


def test_dlopen_features() -> None:
    imports = ["getaddrinfo", "getpwnam", "pthread_cancel", "iconv_open", "printf"]
    assert dlopen_features(imports) == {
        "nss": ("getaddrinfo", "getpwnam"),
        "libgcc_s": ("pthread_cancel",),
        "gconv": ("iconv_open",),
    }
    assert dlopen_features(["printf", "malloc"]) == {}
