"""Plain HTTP against the test registry: put and get blobs and manifests, nothing more.

The signing modules produce documents, not requests; these few calls put them where cosign
and skopeo look, independently of our own registry client.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Mapping

from distroless.oci.digest import Digest
from tests.helpers import Registry

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


class HttpError(AssertionError):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:500]!r}")
        self.status = status


def _request(
    registry: Registry,
    method: str,
    path: str,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    url = path if path.startswith("http") else registry.base_url + path
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    try:
        with _OPENER.open(req, timeout=30) as resp:
            return int(resp.status), dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        raise HttpError(int(exc.code), exc.read()) from None


def put_blob(registry: Registry, repo: str, data: bytes) -> str:
    """Monolithic upload (POST then PUT with the digest); returns the digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    _, headers, _ = _request(registry, "POST", f"/v2/{repo}/blobs/uploads/")
    location = headers["Location"]
    if location.startswith("/"):
        location = registry.base_url + location
    sep = "&" if "?" in location else "?"
    _request(
        registry,
        "PUT",
        f"{location}{sep}digest={digest}",
        data,
        {"Content-Type": "application/octet-stream"},
    )
    return digest


def put_manifest(
    registry: Registry, repo: str, reference: str, data: bytes, media_type: str
) -> str:
    """PUT a manifest under a tag or digest; returns its digest."""
    _request(
        registry, "PUT", f"/v2/{repo}/manifests/{reference}", data, {"Content-Type": media_type}
    )
    return "sha256:" + hashlib.sha256(data).hexdigest()


def get_manifest(registry: Registry, repo: str, reference: str) -> tuple[bytes, str]:
    """(manifest bytes, media type) of a tag or digest."""
    _, headers, body = _request(
        registry, "GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": _ACCEPT}
    )
    lowered = {k.lower(): v for k, v in headers.items()}
    return body, lowered.get("content-type", "")


def get_blob(registry: Registry, repo: str, digest: str) -> bytes:
    _, _, body = _request(registry, "GET", f"/v2/{repo}/blobs/{digest}")
    return body


def put_artifact(
    registry: Registry,
    repo: str,
    reference: str,
    manifest: bytes,
    blobs: Mapping[Digest, bytes],
    media_type: str,
) -> str:
    """Every blob, then the manifest under ``reference``; returns the manifest digest."""
    for data in blobs.values():
        put_blob(registry, repo, data)
    return put_manifest(registry, repo, reference, manifest, media_type)
