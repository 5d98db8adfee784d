"""An in-toto attestation (provenance, or any statement) as an OCI 1.1 referrer of its image.

The same shape as the SBOM artifacts the store already attaches: the empty config ``{}``,
one layer holding the document, ``artifactType`` ``application/vnd.in-toto+json`` and the
image as ``subject``.  The layer is the DSSE envelope when the statement is signed
(``application/vnd.dsse.envelope.v1+json``) and the bare statement otherwise; its
``in-toto.io/predicate-type`` annotation lets a client pick provenance out of a referrers
list without fetching every layer.  Canonical JSON, ``created`` from ``SOURCE_DATE_EPOCH``:
the same statement always gives the same referrer digest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from distroless.oci import mediatypes as mt
from distroless.oci.canonical import dumps
from distroless.oci.digest import sha256_bytes
from distroless.sign.cosign_layout import Artifact
from distroless.sign.dsse import ENVELOPE_MEDIA_TYPE, IN_TOTO_PAYLOAD_TYPE
from distroless.timestamps import rfc3339

ARTIFACT_TYPE = IN_TOTO_PAYLOAD_TYPE
PREDICATE_TYPE_ANNOTATION = "in-toto.io/predicate-type"
CREATED_ANNOTATION = "org.opencontainers.image.created"
EMPTY_JSON = b"{}"


def attestation_referrer(
    subject: Mapping[str, Any],
    document: bytes,
    *,
    predicate_type: str,
    signed: bool,
    source_date_epoch: int = 0,
) -> Artifact:
    """The referrer manifest carrying ``document`` (an envelope if ``signed``) for ``subject``."""
    for key in ("mediaType", "digest", "size"):
        if key not in subject:
            raise ValueError(f"the subject descriptor needs {key!r}")
    layer_type = ENVELOPE_MEDIA_TYPE if signed else IN_TOTO_PAYLOAD_TYPE
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {
            "mediaType": mt.OCI_EMPTY,
            "digest": sha256_bytes(EMPTY_JSON),
            "size": len(EMPTY_JSON),
        },
        "layers": [
            {
                "mediaType": layer_type,
                "digest": sha256_bytes(document),
                "size": len(document),
                "annotations": {PREDICATE_TYPE_ANNOTATION: predicate_type},
            }
        ],
        "subject": {
            "mediaType": subject["mediaType"],
            "digest": subject["digest"],
            "size": subject["size"],
        },
        "annotations": {CREATED_ANNOTATION: rfc3339(source_date_epoch)},
    }
    blobs = {sha256_bytes(EMPTY_JSON): EMPTY_JSON, sha256_bytes(document): document}
    return Artifact(dumps(manifest), blobs, artifact_type=ARTIFACT_TYPE)
