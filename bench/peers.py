"""The peers beside docker: buildah for builds, podman for runs, each with a private store.

Both tools keep their images under a ``--root``/``--runroot`` inside the benchmark's scratch
directory, read a private ``storage.conf``, ``registries.conf`` (no search registries, so a
short name never leaves the machine) and ``containers.conf`` (cgroupfs, runc, events in a
file), so nothing touches the user's own container storage.  Images come from the same
docker-archive tarballs the bench loads into docker (``distroless save``), so every tool
starts from identical bytes.  The overlay driver is tried first (what docker uses here);
``vfs`` is the fallback, and the rows name the driver that ran.

``dry_run=True`` builds every command line without running one, so the tests can check the
argv and the rows without timing anything.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from common import Row, Stats, measure

#: storage drivers in the order they are tried
DRIVERS = ("overlay", "vfs")

Measure = Callable[..., Stats]
#: podman's default process limit, given explicitly (see ``_ulimits``)
NPROC = 32768


@dataclass
class ContainersTool:
    """buildah or podman pointed at a private store under ``base``."""

    name: str  # "buildah" or "podman"
    exe: str
    base: Path
    driver: str
    #: runroot and libpod's tmp dir: podman refuses a runroot longer than 50 characters
    run_base: Path
    dry_run: bool = False
    calls: list[list[str]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            "CONTAINERS_STORAGE_CONF": str(self.base / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(self.base / "registries.conf"),
            "CONTAINERS_CONF": str(self.base / "containers.conf"),
            "BUILDAH_ISOLATION": "chroot",
            "TMPDIR": str(self.base / "tmp"),
        }

    def argv(self, *args: str | Path) -> list[str]:
        """The full command line: private storage flags first, then ``args``."""
        common = [
            self.exe,
            "--root", str(self.base / "root"),
            "--runroot", str(self.run_base / "runroot"),
            "--storage-driver", self.driver,
        ]  # fmt: skip
        if self.name == "podman":
            common += [
                "--cgroup-manager", "cgroupfs",
                "--events-backend", "file",
                "--runtime", "runc",
                "--tmpdir", str(self.run_base / "libpod-tmp"),
            ]  # fmt: skip
        return [*common, *(str(a) for a in args)]

    def run(self, *args: str | Path) -> str:
        """Run one untimed command; its stdout (empty in a dry run)."""
        argv = self.argv(*args)
        self.calls.append(argv)
        if self.dry_run:
            return ""
        done = subprocess.run(
            argv, env={**os.environ, **self.env}, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-800:]}")
        return done.stdout

    def timed(self, measure_fn: Measure, *args: str | Path, repeat: int, warmup: int) -> Stats:
        """``measure`` of one command (recorded, not run, in a dry run)."""
        argv = self.argv(*args)
        self.calls.append(argv)
        if self.dry_run:
            return Stats(runs=repeat, median_s=1.0, min_s=1.0, max_s=1.0, peak_rss_kib=None)
        return measure_fn(argv, repeat=repeat, warmup=warmup, env={**os.environ, **self.env})

    def load_archive(self, archive: Path, name: str) -> None:
        """Put a docker-archive tarball into the store under ``name`` (as docker names it)."""
        if self.name == "podman":
            self.run("load", "-q", "-i", archive)
        else:
            image_id = self.run("pull", "-q", f"docker-archive:{archive}").strip()
            self.run("tag", image_id or "IMAGE-ID", docker_name(name))

    def version(self) -> str:
        if self.dry_run:
            return "dry run"
        out = subprocess.run([self.exe, "--version"], capture_output=True, text=True, check=False)
        words = out.stdout.split()
        return words[2] if len(words) > 2 else out.stdout.strip()


def docker_name(name: str) -> str:
    """The fully qualified name docker gives ``name``, as containers/image looks it up."""
    first = name.split("/", 1)[0]
    if "/" not in name:
        return f"docker.io/library/{name}"
    if "." in first or ":" in first or first == "localhost":
        return name
    return f"docker.io/{name}"


def _write_config(base: Path, run_base: Path, driver: str) -> None:
    for sub in (base / "root", base / "tmp", run_base / "runroot", run_base / "libpod-tmp"):
        sub.mkdir(parents=True, exist_ok=True)
    (base / "storage.conf").write_text(
        f'[storage]\ndriver = "{driver}"\ngraphroot = "{base / "root"}"\n'
        f'runroot = "{run_base / "runroot"}"\n'
    )
    (base / "registries.conf").write_text("unqualified-search-registries = []\n")
    (base / "containers.conf").write_text(
        '[containers]\nnetns = "host"\n\n'
        f'[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nruntime = "runc"\n'
        f'tmp_dir = "{run_base / "libpod-tmp"}"\n'
    )


def _mounts_under(base: Path) -> list[str]:
    prefix = str(base) + "/"
    points: list[str] = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix) or point == str(base):
                points.append(point)
    return sorted(points, key=len, reverse=True)


def _clean(tool: ContainersTool) -> None:
    with contextlib.suppress(RuntimeError):
        if tool.name == "podman":
            tool.run("rm", "-a", "-f")
        else:
            tool.run("rm", "--all")
    for top in (tool.run_base, tool.base):
        for point in _mounts_under(top):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        shutil.rmtree(top, ignore_errors=True)


@contextlib.contextmanager
def containers_tool(
    name: str, base: Path, archives: Sequence[tuple[Path, str]] = (), *, dry_run: bool = False
) -> Iterator[ContainersTool]:
    """buildah or podman with a private store holding ``archives`` (tarball, name) pairs.

    Each driver of :data:`DRIVERS` is tried until loading the archives works; the store is
    unmounted and removed on exit.  Raises FileNotFoundError when the tool is not installed.
    """
    exe = shutil.which(name) or ("/usr/bin/" + name if dry_run else None)
    if exe is None:
        raise FileNotFoundError(f"{name} is not installed (Debian package {name})")
    errors: list[str] = []
    for driver in DRIVERS:
        run_base = Path(tempfile.mkdtemp(prefix=f"dl{name[0]}-"))
        tool = ContainersTool(name, exe, base / driver, driver, run_base, dry_run=dry_run)
        _write_config(tool.base, run_base, driver)
        try:
            for archive, ref in archives:
                tool.load_archive(archive, ref)
        except RuntimeError as exc:
            errors.append(f"[{driver}] {exc}")
            _clean(tool)
            continue
        try:
            yield tool
        finally:
            _clean(tool)
        return
    raise RuntimeError(f"{name} could not load the images with any driver: {'; '.join(errors)}")


def buildah_build_rows(
    tool: ContainersTool,
    context: Path,
    *,
    cold: Stats,
    warm: Stats,
    cold_name: str,
    warm_name: str,
    repeat: int,
    measure_fn: Measure = measure,
) -> list[Row]:
    """Rows of ``buildah bud`` of ``context`` next to our ``cold`` and ``warm`` numbers.

    Cold is plain ``buildah bud``, which keeps no build cache at all; warm is ``bud
    --layers`` after one untimed ``--layers`` build, so every step is found in its cache.
    RUN uses chroot isolation and the host network (the private docker engine has no bridge
    either); FROM images are never pulled.
    """
    bud = ["bud", "-q", "--pull=never", "--network", "host", "--isolation", "chroot"]
    peer_cold = tool.timed(
        measure_fn, *bud, "-t", "bench-app-buildah", context, repeat=repeat, warmup=1
    )
    peer_warm = tool.timed(
        measure_fn, *bud, "--layers", "-t", "bench-app-buildah", context, repeat=repeat, warmup=1
    )
    peer = f"buildah {tool.version()} bud, {tool.driver}"
    return [
        Row(
            benchmark=cold_name, ours=cold.median_s, peer=peer_cold.median_s,
            peer_name=peer, target="ratio <= 1.0",
        ),
        Row(
            benchmark=warm_name, ours=warm.median_s, peer=peer_warm.median_s,
            peer_name=f"{peer} --layers", target="ratio <= 1.0",
        ),
    ]  # fmt: skip


def _ulimits() -> list[str]:
    """Limits runc may set here: open files as this process has them, podman's own nproc.

    Given only one ``--ulimit``, podman 4.3 raises the other limit to the host's hard value,
    which runc then may not set inside a container host; so both are spelled out.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return ["--ulimit", f"nofile={soft}:{hard}", "--ulimit", f"nproc={NPROC}:{NPROC}"]


def podman_run_stats(
    tool: ContainersTool, ref: str, *, repeat: int, measure_fn: Measure = measure
) -> Stats:
    """``podman run --rm --pull never --network none REF``, timed as the docker row is.

    ``REF`` stays as the user typed it: podman finds a short name in its store under the
    ``localhost/`` name its ``load`` gave it.  The limits are spelled out (``_ulimits``):
    podman's defaults are more than runc may set on a host with lower hard limits.
    """
    return tool.timed(
        measure_fn, "run", "--rm", "--pull", "never", "--network", "none", *_ulimits(), ref,
        repeat=repeat, warmup=1,
    )  # fmt: skip
