"""``key generate``, ``sign``, ``verify`` and ``referrers``: signatures and attached artifacts.

Passphrases come, in this order, from ``--key-passphrase-file``, the environment
(``DISTROLESS_KEY_PASSPHRASE``, or cosign's ``COSIGN_PASSWORD`` so that scripts written for
cosign keep working), or a prompt on a terminal; a command without any of them and no
terminal fails instead of waiting for input.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from distroless.cli.context import App, pass_app
from distroless.cli.help_text import examples
from distroless.cli.output import emit_json, human_size, table
from distroless.errors import InputError, UsageError

if TYPE_CHECKING:
    from distroless.sign.keys import PrivateKey, PublicKey

PASSPHRASE_ENV = "DISTROLESS_KEY_PASSPHRASE"  # noqa: S105 (a variable name)
COSIGN_PASSPHRASE_ENV = "COSIGN_PASSWORD"  # noqa: S105 (a variable name)

_passphrase_option = click.option(
    "--key-passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Read the key's passphrase from this file (else ${PASSPHRASE_ENV}, "
    f"${COSIGN_PASSPHRASE_ENV}, or a prompt).",
)


def _read_passphrase_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"passphrase file {path} cannot be read ({exc.strerror})") from None
    return text.removesuffix("\n").removesuffix("\r")


def passphrase(file: Path | None, *, confirm: bool, what: str) -> str:
    """The passphrase from ``file``, the environment, or a prompt (twice when ``confirm``)."""
    if file is not None:
        return _read_passphrase_file(file)
    for name in (PASSPHRASE_ENV, COSIGN_PASSPHRASE_ENV):
        if name in os.environ:
            return os.environ[name]
    if not sys.stdin.isatty():
        raise UsageError(
            f"{what} needs a passphrase: give --key-passphrase-file or set {PASSPHRASE_ENV}"
        )
    value: str = click.prompt(
        f"Passphrase for {what}",
        hide_input=True,
        confirmation_prompt=confirm,
        default="",
        show_default=False,  # an empty passphrase is allowed, but "[]" only puzzles
    )
    return value


@click.group(
    "key",
    epilog=examples(
        "distroless key generate", "distroless key generate --output-key-prefix release"
    ),
)
def key_group() -> None:
    """Signing keys in cosign's format (ECDSA P-256)."""


@key_group.command(
    "generate",
    epilog=examples(
        "distroless key generate",
        "distroless key generate --output-key-prefix release --key-passphrase-file pass.txt",
    ),
)
@click.option(
    "--output-key-prefix",
    default="cosign",
    show_default=True,
    help="Write PREFIX.key (the encrypted private key) and PREFIX.pub.",
)
@click.option("--force", is_flag=True, help="Replace existing key files.")
@_passphrase_option
def generate(output_key_prefix: str, force: bool, key_passphrase_file: Path | None) -> None:
    """Generate a key pair; the private key is encrypted with a passphrase."""
    from distroless.sign.keys import generate_keypair
    from distroless.store.atomic import atomic_file

    private_path = Path(f"{output_key_prefix}.key")
    public_path = Path(f"{output_key_prefix}.pub")
    for path in (private_path, public_path):
        if os.path.lexists(path) and not force:
            raise UsageError(f"{path} exists; remove it or pass --force")
    secret = passphrase(key_passphrase_file, confirm=True, what="the new private key")
    private, public = generate_keypair(secret)
    with atomic_file(private_path, 0o600) as fh:  # never readable by others, not even briefly
        fh.write(private)
    with atomic_file(public_path, 0o644) as fh:
        fh.write(public)
    click.echo(f"Private key written to {private_path}")
    click.echo(f"Public key written to {public_path}")


def load_private(path: Path, passphrase_file: Path | None) -> PrivateKey:
    from distroless import pem
    from distroless.sign import keys

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"key {path} cannot be read ({exc.strerror})") from None

    label = pem.decode_first(data, source=str(path)).label
    secret = None
    if label in keys.ENCRYPTED_LABELS:
        secret = passphrase(passphrase_file, confirm=False, what=str(path))
    return keys.load_private_key(data, secret, source=str(path))


def load_public(path: Path) -> PublicKey:
    from distroless.sign import keys

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"public key {path} cannot be read ({exc.strerror})") from None
    return keys.load_public_key(data, source=str(path))


def _annotations(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise UsageError(f"-a {pair!r}: give KEY=VALUE")
        out[key] = value
    return out


@click.command(
    "sign",
    epilog=examples(
        "distroless sign my-distroless-app --key cosign.key",
        "distroless sign --recursive --key cosign.key hello-multiarch",
    ),
)
@click.argument("image")
@click.option("--key", "key_path", required=True, type=click.Path(path_type=Path))
@click.option(
    "--identity",
    help="The reference the signature names (default: IMAGE, e.g. host/repo:tag).",
)
@click.option("-a", "--annotation", "annotations", multiple=True, help="KEY=VALUE, signed too.")
@click.option("--recursive", is_flag=True, help="Sign each platform of an index as well.")
@_passphrase_option
@pass_app
def sign_cmd(
    app: App,
    image: str,
    key_path: Path,
    identity: str | None,
    annotations: tuple[str, ...],
    recursive: bool,
    key_passphrase_file: Path | None,
) -> None:
    """Sign IMAGE of the local store with a cosign private key.

    The signature is kept as cosign's signature manifest and as an OCI referrer; push
    sends both.
    """
    from distroless.sign.local import sign_image
    from distroless.store import Store

    key = load_private(key_path, key_passphrase_file)
    signed = sign_image(
        Store(app.root_path),
        image,
        key,
        identity=identity,
        annotations=_annotations(annotations) or None,
        recursive=recursive,
    )
    click.echo(
        f"Signed {image} ({signed.image.digest}) as {signed.identity}; "
        f"{signed.signatures} signature(s)"
    )


@click.command(
    "verify",
    epilog=examples(
        "distroless verify my-distroless-app --key cosign.pub",
        "distroless verify --json --key cosign.pub 127.0.0.1:5000/hello:1",
    ),
)
@click.argument("image")
@click.option("--key", "key_path", required=True, type=click.Path(path_type=Path))
@click.option("--identity", help="The reference the signature must name (default: IMAGE).")
@click.option("--json", "as_json", is_flag=True, help="Print the verified claim as JSON.")
@pass_app
def verify_cmd(app: App, image: str, key_path: Path, identity: str | None, as_json: bool) -> None:
    """Verify that IMAGE of the local store carries a signature by the public key."""
    from distroless.sign.local import verify_image
    from distroless.store import Store

    key = load_public(key_path)
    result = verify_image(Store(app.root_path), image, key, identity=identity)
    if as_json:
        emit_json(
            {
                "image": image,
                "digest": result.image.digest,
                "identity": result.claim.docker_reference,
                "key": result.key_id,
                "payload": result.claim.to_dict(),
            }
        )
        return
    click.echo(
        f"Verified {image} ({result.image.digest}): signed as "
        f"{result.claim.docker_reference} by {result.key_id[:19]}"
    )


@click.command(
    "referrers",
    epilog=examples(
        "distroless referrers my-distroless-app",
        "distroless referrers --json 127.0.0.1:5000/hello:1",
    ),
)
@click.argument("image")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@pass_app
def referrers_cmd(app: App, image: str, as_json: bool) -> None:
    """List the artifacts attached to IMAGE: SBOMs, signatures, attestations."""
    from distroless.oci import mediatypes as mt
    from distroless.oci.models import Index
    from distroless.store import Store
    from distroless.store.referrers import referrers, signature_tag_manifest

    store = Store(app.root_path)
    top = store.resolve(image)
    subjects = [top]
    if mt.is_index(top.media_type):
        subjects += [d for d in Index.from_bytes(store.read_document(top)).manifests]
    found: list[dict[str, object]] = []
    for subject in subjects:
        for desc in referrers(store, subject.digest):
            found.append(
                {
                    "subject": subject.digest,
                    "mediaType": desc.media_type,
                    "digest": desc.digest,
                    "size": desc.size,
                    "artifactType": desc.artifact_type,
                    "annotations": dict(desc.annotations),
                }
            )
        tagged = signature_tag_manifest(store, subject.digest)
        if tagged is not None:
            found.append(
                {
                    "subject": subject.digest,
                    "mediaType": tagged.media_type,
                    "digest": tagged.digest,
                    "size": tagged.size,
                    "artifactType": None,
                    "tag": subject.digest.replace(":", "-", 1) + ".sig",
                }
            )
    if as_json:
        emit_json({"subject": top.digest, "referrers": found})
        return
    rows = [
        [
            str(item["subject"])[7:19],
            str(item["digest"])[7:19],
            str(item.get("artifactType") or f"(tag {item.get('tag')})"),
            human_size(int(str(item["size"]))),
        ]
        for item in found
    ]
    table(["SUBJECT", "DIGEST", "ARTIFACT TYPE", "SIZE"], rows)


@click.command(
    "attestations",
    epilog=examples(
        "distroless attestations my-distroless-app",
        "distroless attestations my-distroless-app --key cosign.pub   # only what it signed",
    ),
)
@click.argument("image")
@click.option(
    "--key", "key_path", type=click.Path(path_type=Path),
    help="Only the statements this public key signed (DSSE); none is an error.",
)  # fmt: skip
@pass_app
def attestations_cmd(app: App, image: str, key_path: Path | None) -> None:
    """Print the in-toto statements (SLSA provenance) attached to IMAGE, as a JSON list."""
    import json

    from distroless.errors import IntegrityError
    from distroless.store import Store
    from distroless.verify.attach import attestations

    store = Store(app.root_path)
    digest = store.resolve(image).digest
    key = load_public(key_path) if key_path is not None else None
    found = attestations(store, digest, key)
    if key_path is not None and not found:
        raise IntegrityError(f"{image} ({digest[:19]}) has no attestation signed by {key_path}")
    emit_json([json.loads(s) for s in found])


COMMANDS = (key_group, sign_cmd, verify_cmd, referrers_cmd, attestations_cmd)
