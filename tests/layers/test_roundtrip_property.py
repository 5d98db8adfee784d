"""Property: any valid entry set survives write_tar -> iter_layer, whatever its order."""

from __future__ import annotations

import io
import posixpath
import stat

from hypothesis import given, settings
from hypothesis import strategies as st

from distroless.layers.entry import Entry, EntryType
from distroless.layers.reader import iter_layer
from distroless.layers.tarwriter import write_tar

SDE = 1_700_000_000

component = st.one_of(
    st.sampled_from(["a", "b", "bin", "a-b", "a.b", "caf\u00e9", "\u65e5\u672c", "x" * 120]),
    st.text(alphabet="abcXYZ019_-.", min_size=1, max_size=12).filter(
        lambda s: s not in (".", "..") and not s.startswith(".wh.")
    ),
)
paths = st.lists(component, min_size=1, max_size=4).map("/".join)


@st.composite
def entry_sets(draw: st.DrawFn) -> list[Entry]:
    chosen = draw(st.lists(paths, min_size=1, max_size=12))
    entries: list[Entry] = []
    for path in chosen:
        kind = draw(st.sampled_from(["file", "dir", "symlink", "fifo", "char"]))
        mode = draw(st.sampled_from([0o644, 0o755, 0o4755, 0o1777, 0o600]))
        uid = draw(st.sampled_from([0, 65532, 1 << 22]))
        mtime = draw(st.sampled_from([0, 5, SDE, SDE + 10]))
        if kind == "file":
            data = draw(st.binary(max_size=700))
            entries.append(
                Entry(
                    path,
                    EntryType.FILE,
                    mode=mode,
                    uid=uid,
                    gid=uid,
                    size=len(data),
                    mtime=mtime,
                    opener=lambda d=data: io.BytesIO(d),  # type: ignore[misc]
                )
            )
        elif kind == "dir":
            entries.append(Entry(path, EntryType.DIR, mode=mode, uid=uid, mtime=mtime))
        elif kind == "symlink":
            target = draw(st.sampled_from(["/usr/bin", "../x", "t" * 150]))
            entries.append(Entry(path, EntryType.SYMLINK, mode=0o777, linkname=target))
        elif kind == "fifo":
            entries.append(Entry(path, EntryType.FIFO, mode=mode))
        else:
            entries.append(Entry(path, EntryType.CHAR, mode=mode, devmajor=1, devminor=5))
    # A path with children must be a directory; later entries win, as in the writer.
    last = {e.path: e for e in entries}
    ancestors = {posixpath.dirname(p) for p in last} - {""}
    while any(posixpath.dirname(a) not in ancestors | {""} for a in ancestors):
        ancestors |= {posixpath.dirname(a) for a in ancestors} - {""}
    fixed = [
        Entry(e.path, EntryType.DIR, mode=0o755) if e.path in ancestors else e for e in entries
    ]
    files = [e.path for e in fixed if e.type is EntryType.FILE and last[e.path].type is e.type]
    want_link: bool = draw(st.booleans())
    if files and want_link:
        link = "0hardlink-" + draw(st.sampled_from(["a", "b"]))  # sorts before most targets
        if link not in last:
            fixed.append(Entry(link, EntryType.HARDLINK, linkname=draw(st.sampled_from(files))))
    return fixed


def _read_back(data: bytes) -> dict[str, tuple[int, int, int, int, str, bytes]]:
    out: dict[str, tuple[int, int, int, int, str, bytes]] = {}
    for member, content in iter_layer(io.BytesIO(data)):
        body = content.read() if content is not None else b""
        out[member.name] = (
            int.from_bytes(member.type, "big"),
            member.mode,
            member.uid,
            int(member.mtime),
            member.linkname,
            body,
        )
    return out


@settings(max_examples=100, deadline=None)
@given(entry_sets(), st.randoms(use_true_random=False))
def test_round_trip_and_order_independence(entries: list[Entry], rng: object) -> None:
    buf = io.BytesIO()
    write_tar(entries, buf, source_date_epoch=SDE)
    shuffled_buf = io.BytesIO()
    last = {e.path: e for e in entries}
    shuffled = list(last.values())
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    write_tar(shuffled, shuffled_buf, source_date_epoch=SDE)
    assert shuffled_buf.getvalue() == buf.getvalue()

    got = _read_back(buf.getvalue())
    names = list(got)
    assert names == sorted(names, key=lambda n: n.encode())
    for path in got:  # every parent is present and a directory
        parent = posixpath.dirname(path)
        if parent:
            assert got[parent][0] == ord("5")

    for path, entry in last.items():
        kind, mode, uid, mtime, linkname, body = got[path]
        if entry.type is EntryType.HARDLINK:
            continue
        assert mode == stat.S_IMODE(entry.mode)
        assert uid == entry.uid
        assert mtime == min(entry.mtime, SDE)
        if entry.type is EntryType.SYMLINK:
            assert linkname == entry.linkname
        if entry.type is EntryType.FILE:
            expected = entry.open().read()
            if kind == ord("1"):  # became the link half of a hardlink pair
                body = got[linkname][5]
            assert body == expected
    for path, entry in last.items():
        if entry.type is EntryType.HARDLINK:
            kind, _, _, _, linkname, body = got[path]
            target_body = last[entry.linkname].open().read()
            if kind == ord("1"):
                assert names.index(linkname) < names.index(path)
                assert got[linkname][5] == target_body
            else:
                assert body == target_body
