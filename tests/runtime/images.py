"""The probe image of the runtime tests (written with ``tests.helpers.images``).

The images hold a static Go ``probe`` program (tests/runtime/probe) plus the passwd and
group files of the distroless bases, so user names resolve as they do in real images; the
group file also lists ``nonroot`` in ``staff`` so supplementary groups can be checked.
"""

from __future__ import annotations

from pathlib import Path

from distroless.layers.entry import Entry
from tests.helpers import go_build

PROBE_SOURCE = Path(__file__).parent / "probe" / "main.go"

PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
)
GROUP = "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:nonroot\nnonroot:x:65532:\n"


def build_probe(out_dir: Path) -> Path:
    """Compile the probe statically with the host's Go (``tests.helpers.go_build``)."""
    return go_build(PROBE_SOURCE, out_dir / "probe")


def base_entries(probe: Path) -> list[Entry]:
    data = probe.read_bytes()
    return [
        Entry.file("etc/passwd", PASSWD.encode()),
        Entry.file("etc/group", GROUP.encode()),
        Entry.directory("tmp", mode=0o1777),
        Entry.directory("home/nonroot", mode=0o700, uid=65532, gid=65532),
        Entry.file("probe", data, mode=0o755),
    ]
