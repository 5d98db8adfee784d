"""``pack`` of real Debian 12 programs: each packed image starts, passes ``check``, and names
its packages in the SBOM; the same images run in the test's Docker engine.

The source is one Debian 12 image built once per session from the real archive with our
own spec builds (signed indices, verified .debs); its packages' ``status.d`` entries are
the dpkg database the packs attribute files with.
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from distroless.build import SpecRequest, build_image
from distroless.elf import FsViewAdapter, LoaderConfig
from distroless.oci.models import Platform
from distroless.pack import PackageDatabase, pack_image, parse_extras
from distroless.store import Store
from distroless.verify.attach import attach_sbom
from distroless.verify.fsview import FileSystemView
from distroless.verify.image import from_store
from tests.helpers import Cli, DockerEngine

pytestmark = [pytest.mark.network]

AMD64 = Platform("linux", "amd64")
SOURCE = "debian-tools:12"


@dataclass(frozen=True)
class Program:
    path: str
    args: tuple[str, ...]
    says: str
    package: str


PROGRAMS = [
    Program("/usr/bin/curl", ("--version",), "curl ", "curl"),
    Program("/usr/bin/openssl", ("version",), "OpenSSL ", "openssl"),
    Program("/usr/bin/sqlite3", ("-version",), "3.", "sqlite3"),
    Program("/usr/bin/jq", ("--version",), "jq-1", "jq"),
    Program("/usr/bin/rsync", ("--version",), "rsync  version", "rsync"),
    Program("/usr/bin/git", ("--version",), "git version", "git"),
    Program("/usr/bin/xz", ("--version",), "xz (XZ Utils)", "xz-utils"),
    Program("/usr/bin/zstd", ("--version",), "Zstandard CLI", "zstd"),
    Program("/usr/bin/gpg", ("--version",), "gpg (GnuPG)", "gpg"),
    Program("/usr/bin/file", ("--version",), "file-5", "file"),
    Program("/bin/bzip2", ("--help",), "block-sorting file compressor", "bzip2"),
    Program("/usr/bin/lz4", ("--version",), "LZ4 command line interface", "lz4"),
    Program("/usr/bin/wget", ("--version",), "GNU Wget", "wget"),
    Program("/usr/bin/tree", ("--version",), "tree v", "tree"),
    Program("/usr/bin/bc", ("--version",), "bc 1", "bc"),
    Program("/usr/bin/diff", ("--version",), "diff (GNU diffutils)", "diffutils"),
    Program("/usr/bin/gawk", ("--version",), "GNU Awk", "gawk"),
    Program("/usr/bin/make", ("--version",), "GNU Make", "make"),
    Program("/usr/bin/patch", ("--version",), "GNU patch", "patch"),
    Program("/usr/bin/socat", ("-V",), "socat version", "socat"),
    Program("/usr/bin/unzip", ("-v",), "UnZip 6", "unzip"),
    Program("/bin/nano", ("--version",), "GNU nano", "nano"),
    Program("/bin/tar", ("--version",), "tar (GNU tar)", "tar"),
]
#: curl resolves names and checks certificates
WITH = {"curl": "nss,certs"}
PACKAGES = sorted({p.package for p in PROGRAMS} | {"ca-certificates"})


def _name(program: Program) -> str:
    return f"packed-{program.path.rsplit('/', 1)[1]}:1"


@dataclass(frozen=True)
class Packs:
    root: Path
    store: Store
    packages: dict[str, tuple[str, ...]]
    warnings: dict[str, tuple[str, ...]]


@pytest.fixture(scope="session")
def packs(tmp_path_factory: pytest.TempPathFactory, package_cache: Path) -> Packs:
    """The Debian 12 source image and one packed image per program (curl with nss, certs)."""
    base = tmp_path_factory.mktemp("pack-debian")
    spec = base / "image.yaml"
    spec.write_text(f"distro: debian12\narchs: [amd64]\npackages: [{', '.join(PACKAGES)}]\n")
    root = base / "store"
    store = Store(root)
    build_image(store, SpecRequest(spec, tags=(SOURCE,), sbom=False, package_cache=package_cache))
    view = FsViewAdapter(FileSystemView.from_image(from_store(store, SOURCE, AMD64)))
    db = PackageDatabase(view)
    packages, warnings = {}, {}
    with store.session():
        for program in PROGRAMS:
            extras = parse_extras([WITH.get(program.package, "")])
            packed = pack_image(
                store,
                view,
                [program.path],
                platform=AMD64,
                extras=extras,
                config=LoaderConfig(expected=("amd64", None)),
                db=db,
            )
            attach_sbom(store, packed.descriptor, added_files=list(packed.unowned))
            store.tag(_name(program), packed.descriptor)
            packages[program.path] = packed.packages
            warnings[program.path] = packed.warnings
    return Packs(root, store, packages, warnings)


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.path.rsplit("/", 1)[1])
def test_packed_program_starts_passes_check_and_lists_its_packages(
    packs: Packs, program: Program
) -> None:
    cli = Cli(packs.root)
    name = _name(program)
    ran = cli.subprocess("run", "--rm", "--network", "none", name, *program.args)
    assert ran.exit_code == 0, ran.stderr
    assert program.says in ran.stdout + ran.stderr
    checked = cli("check", name, "--json")
    report = checked.json()
    assert isinstance(report, dict)
    assert checked.exit_code == 0, [f for f in report["findings"] if f["severity"] != "note"]
    sbom = json.loads(cli("sbom", name).check().stdout)
    listed = {p["name"] for p in sbom["packages"]}
    assert {program.package, "libc6"} <= listed
    assert set(packs.packages[program.path]) <= listed
    # only what the program needs: no package of another program came along
    others = {p.package for p in PROGRAMS} - {program.package}
    assert not others & set(packs.packages[program.path]) - {"gpg", "tar", "bzip2", "xz-utils"}


def test_programs_are_told_what_they_dlopen_unless_it_was_added(packs: Packs) -> None:
    jq = " ".join(packs.warnings["/usr/bin/jq"])
    assert "getpwuid" in jq and "--with nss" in jq  # jq looks up the home directory
    curl = " ".join(packs.warnings["/usr/bin/curl"])
    assert "--with nss" not in curl and "iconv_open" in curl and "--with gconv" in curl


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the test server\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A plain and a TLS server on 127.0.0.1 (the TLS one with a CA no bundle trusts)."""
    from tests.pack.tls import self_signed

    cert, key = self_signed(tmp_path, "localhost")
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (plain, tls)]
    for thread in threads:
        thread.start()
    yield plain.server_address[1], tls.server_address[1]
    for server in (plain, tls):
        server.shutdown()
        server.server_close()


def _fetch_checks(output: str, code: int, tls_output: str, tls_code: int) -> None:
    assert code == 0 and "hello from the test server" in output
    # the bundle is read and used: an unknown issuer (60), not an unreadable bundle (77)
    assert tls_code == 60, tls_output
    assert "/etc/ssl/certs/ca-certificates.crt" in tls_output


def test_packed_curl_looks_up_localhost_and_reads_the_bundle(
    packs: Packs, servers: tuple[int, int]
) -> None:
    plain, tls = servers
    cli = Cli(packs.root)
    name = _name(PROGRAMS[0])
    run = ("run", "--rm", "--network", "host", name)
    got = cli.subprocess(*run, "-sS", f"http://localhost:{plain}/")
    secure = cli.subprocess(*run, "-sSv", f"https://localhost:{tls}/")
    _fetch_checks(got.stdout, got.exit_code, secure.stderr, secure.exit_code)


def test_packed_programs_run_in_docker(
    packs: Packs, docker_engine: DockerEngine, tmp_path: Path, servers: tuple[int, int]
) -> None:
    cli = Cli(packs.root)
    archive = tmp_path / "packed.tar"
    cli("save", *(_name(p) for p in PROGRAMS), "-o", archive).check()
    docker_engine.load(archive)
    for program in PROGRAMS:
        done = docker_engine.run_image(_name(program), *program.args, check=False)
        assert done.returncode == 0, (program.path, done.stderr)
        assert program.says in done.stdout + done.stderr
    plain, tls = servers
    curl = _name(PROGRAMS[0])
    got = docker_engine.run_image(
        curl, "-sS", f"http://localhost:{plain}/", network="host", check=False
    )
    secure = docker_engine.run_image(
        curl, "-sSv", f"https://localhost:{tls}/", network="host", check=False
    )
    _fetch_checks(got.stdout, got.returncode, secure.stderr, secure.returncode)
