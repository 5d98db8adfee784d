"""An HTTP client for one registry endpoint: auth, redirects and retries, nothing else.

Pull and push speak the distribution API through :meth:`RegistryClient.request`, which

* pings ``/v2/`` once to learn the auth scheme, then sends every request already
  authorised (a streamed upload must not be spent on a 401);
* gets Bearer tokens from the challenge's realm per set of scopes, caches them, and
  fetches a fresh one once when a request answers 401 (expired or too narrow token);
* follows redirects itself, resolving relative ``Location`` headers against the request
  URL and dropping ``Authorization`` whenever the next hop is another origin: blob GETs
  redirect to storage services that must never see the registry's credentials;
* sends credentials only to the registry they were looked up for and to the token realm
  that registry itself names: a challenge from an origin it redirected us to is refused,
  never answered; no redirect, upload location or realm may go from HTTPS down to plain
  HTTP, or from a remote registry to this machine's loopback;
* keeps no cookies, which would follow a redirect to another port of the same host;
* retries, with bounded exponential backoff, on 5xx/429 answers, connection resets and
  timeouts.  Bodies are passed as factories so a retried upload re-reads its source.
"""

from __future__ import annotations

import functools
import http.cookiejar
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpcore._sync.http11
import httpx

from distroless import __version__
from distroless.errors import AuthError, DistrolessError, NotFoundError, RegistryError
from distroless.transports.registry.auth import (
    Challenge,
    CredentialLookup,
    Credentials,
    default_lookup,
    parse_challenges,
)
from distroless.transports.registry.bodies import (
    ERROR_LIMIT,
    TOKEN_LIMIT,
    printable,
    read_capped,
    read_prefix,
)

Body = bytes | Callable[[], Iterable[bytes]] | None

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})

# httpcore reads a connection 64 KiB at a time, and every read is a trip through h11's parser
# in Python: 3,200 of them for a 200 MiB layer, which costs more than hashing it.  Reads of up
# to 1 MiB take what the socket has ready in one call.
_READ_SIZE = 1 << 20
if getattr(httpcore._sync.http11.HTTP11Connection, "READ_NUM_BYTES", _READ_SIZE) < _READ_SIZE:
    httpcore._sync.http11.HTTP11Connection.READ_NUM_BYTES = _READ_SIZE
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 10


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to try one request and how long to wait in between."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.strip().isdigit():
            return min(float(retry_after), self.max_delay)
        return float(min(self.base_delay * float(2**attempt), self.max_delay))


def is_local_host(host: str) -> bool:
    """localhost and loopback addresses are spoken to in plain HTTP, as docker does."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Endpoint:
    """Where to send requests for a registry host: ``base_url`` plus the host for auth."""

    host: str
    base_url: str

    @classmethod
    def for_host(cls, host: str, insecure: bool = False) -> Endpoint:
        scheme = "http" if insecure or is_local_host(host) else "https"
        return cls(host, f"{scheme}://{host}")

    @classmethod
    def parse(cls, text: str, insecure: bool = False) -> Endpoint:
        """A mirror entry: ``host[:port]`` or a full ``http(s)://host[:port]`` URL.

        Credentials in the entry are refused: the entry's host is named in messages and
        logs, and credentials belong in ``distroless login``, which keeps them per host.
        """
        parts = urlsplit(text if "://" in text else f"//{text}")
        if "@" in parts.netloc:
            host = parts.netloc.rpartition("@")[2]
            raise RegistryError(
                f"registry mirror …@{printable(host, 80)} carries credentials in its address; "
                f"remove them and run `distroless login {printable(host, 80)}`"
            )
        if "://" in text:
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise RegistryError(
                    f"invalid registry endpoint {printable(text, 120)!r}: expected http(s)://host"
                )
            return cls(parts.netloc, f"{parts.scheme}://{parts.netloc}")
        return cls.for_host(text.strip("/"), insecure)


@functools.cache
def system_trust() -> ssl.SSLContext:
    """The host's trust store (``/etc/ssl/certs``, ``SSL_CERT_FILE``), loaded once per process.

    Registries inside a company are signed by the company's CA, which is installed in the
    system store, not in a bundle shipped with a Python package.
    """
    return ssl.create_default_context()


class _LazyTLS(httpx.BaseTransport):
    """An HTTPS transport verified by the system trust store, built on its first request."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._lock = threading.Lock()
        self._transport: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            if self._transport is None:
                self._transport = httpx.HTTPTransport(verify=system_trust(), limits=self._limits)
            transport = self._transport
        return transport.handle_request(request)

    def close(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()


def _permanent_cause(exc: BaseException) -> ssl.SSLError | socket.gaierror | None:
    """The TLS or name-resolution error behind a transport error: not worth retrying."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError | socket.gaierror):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def _origin_text(url: httpx.URL) -> str:
    return printable(f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}", 120)


def _no_cookies() -> http.cookiejar.CookieJar:
    """A jar that accepts nothing: cookies are not scoped by port, so a cookie of the
    registry would be sent to any other server on its host that it redirects us to."""
    return http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


def check_hop(current: httpx.URL, target: httpx.URL, host: str, role: str) -> None:
    """Refuse a URL a registry sends us to (a redirect, an upload ``Location``, a token
    realm) that is not HTTP(S), that leaves HTTPS for plain HTTP, or that points a registry
    elsewhere at this machine's loopback, where it could reach local services.

    A registry on the loopback itself may use plain HTTP and loopback addresses freely.
    """
    if target.scheme not in ("http", "https") or not target.host:
        raise RegistryError(
            f"registry {host} named {printable(str(target), 120)!r} as its {role}, which is "
            "not an http(s) URL"
        )
    if is_local_host(current.host):
        return
    if is_local_host(target.host):
        raise RegistryError(
            f"registry {host} named {_origin_text(target)}, an address of this machine, as "
            f"its {role}; refusing it"
        )
    if current.scheme == "https" and target.scheme == "http":
        raise RegistryError(
            f"registry {host} named plain-HTTP {_origin_text(target)} as its {role}; "
            "refusing to leave HTTPS"
        )


def registry_error(resp: httpx.Response, what: str) -> DistrolessError:
    """Turn a failed response into the matching error, quoting the registry's own reason."""
    body = read_prefix(resp, ERROR_LIMIT)
    reason = ""
    try:
        errors = json.loads(body).get("errors") or []
        if errors:
            first = errors[0]
            reason = printable(f"{first.get('code', '')} {first.get('message', '')}".strip())
            reason = f": {reason}" if reason else ""
    except (ValueError, AttributeError, TypeError, KeyError, RecursionError):
        pass
    status = resp.status_code
    text = f"{what} failed with HTTP {status}{reason}"
    if status == 404:
        return NotFoundError(text)
    if status in (401, 403):
        return AuthError(text)
    return RegistryError(text)


class RegistryClient:
    """Authenticated, retrying requests to one registry endpoint; thread-safe."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        credentials: CredentialLookup | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = endpoint
        self.retry = retry or RetryPolicy()
        self._lookup = credentials if credentials is not None else default_lookup()
        self._sleep = sleep
        self._lock = threading.Lock()
        self._token_lock = threading.Lock()
        self._challenge: Challenge | None = None
        self._pinged = False
        self._creds: Credentials | None = None
        self._creds_loaded = False
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=8)
        parts = urlsplit(endpoint.base_url)
        # A proxy from the environment must not carry loopback traffic.
        local = is_local_host(parts.netloc)
        verify: ssl.SSLContext
        mounts: dict[str, httpx.BaseTransport] | None = None
        if transport is None and local and parts.scheme == "http":
            # Loading the trust store is most of a local pull's set-up; a plain-HTTP registry
            # here needs it only if it redirects to HTTPS, so that transport is built then.
            # The context of the default transport has no CAs and so verifies nothing: no
            # HTTPS request ever goes through it.
            verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            mounts = {"https://": _LazyTLS(limits)}
        else:
            verify = system_trust()
        self._http = httpx.Client(
            verify=verify,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 30.0)),
            follow_redirects=False,
            headers={"User-Agent": f"distroless/{__version__}", "Accept-Encoding": "identity"},
            cookies=_no_cookies(),
            transport=transport,
            mounts=mounts,
            trust_env=not local,
            limits=limits,
        )

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def host(self) -> str:
        return self.endpoint.host

    def url(self, path: str) -> str:
        return self.endpoint.base_url + path

    def _own_origin(self, url: httpx.URL) -> bool:
        return _origin(url) == _origin(httpx.URL(self.endpoint.base_url))

    def _refuse_foreign_challenge(self, resp: httpx.Response, method: str, url: str) -> None:
        """A 401 that a redirect target sent is its own demand, not the registry's: our
        credentials (and tokens) are not for it, so it is not answered at all."""
        if resp.status_code != 401 or self._own_origin(resp.request.url):
            return
        resp.close()
        path = printable(httpx.URL(url).path, 120)
        raise AuthError(
            f"registry {self.host} redirected {method} {path} to "
            f"{_origin_text(resp.request.url)}, which demands authentication; credentials "
            f"are only sent to {self.host} and the token service it names"
        )

    # -- credentials and tokens ------------------------------------------------------------
    def credentials(self) -> Credentials | None:
        with self._lock:
            if not self._creds_loaded:
                self._creds = self._lookup(self.host)
                self._creds_loaded = True
            return self._creds

    def ping(self) -> Challenge | None:
        """GET ``/v2/``: None when anonymous access works, else the challenge to answer."""
        resp = self._send_retrying("GET", self.url("/v2/"), {}, None)
        self._refuse_foreign_challenge(resp, "GET", self.url("/v2/"))
        try:
            if resp.status_code == 401:
                challenge = self._pick_challenge(resp)
            elif resp.status_code < 300:
                challenge = None
            else:
                raise registry_error(resp, f"contacting registry {self.host}")
        finally:
            resp.close()
        with self._lock:
            self._challenge, self._pinged = challenge, True
        return challenge

    def _pick_challenge(self, resp: httpx.Response) -> Challenge:
        challenges = parse_challenges(resp.headers.get("www-authenticate", ""))
        for scheme in ("bearer", "basic"):
            for c in challenges:
                if c.scheme == scheme:
                    return c
        header = printable(resp.headers.get("www-authenticate", "no WWW-Authenticate header"))
        raise AuthError(
            f"registry {self.host} demands authentication with no supported scheme ({header!r})"
        )

    def _authorization(self, scopes: tuple[str, ...], fresh: bool = False) -> str | None:
        if not self._pinged:
            self.ping()
        challenge = self._challenge
        if challenge is None:
            return None
        creds = self.credentials()
        if challenge.scheme == "basic":
            if creds is None or creds.identity_token:
                raise AuthError(
                    f"registry {self.host} requires a login: run `distroless login {self.host}`"
                )
            return creds.basic_header()
        key = tuple(sorted(scopes))
        with self._lock:
            stale = self._tokens.get(key) if fresh else None
        # One fetch at a time, so parallel blob transfers share one token instead of racing.
        with self._token_lock:
            with self._lock:
                cached = self._tokens.get(key)
            if cached and cached is not stale and cached[1] > time.monotonic():
                return "Bearer " + cached[0]
            token, lifetime = self._fetch_token(challenge, key, creds)
            with self._lock:
                self._tokens[key] = (token, time.monotonic() + max(lifetime - 10, 1))
        return "Bearer " + token

    def _fetch_token(
        self, challenge: Challenge, scopes: tuple[str, ...], creds: Credentials | None
    ) -> tuple[str, float]:
        realm = challenge.realm
        if not realm.startswith(("http://", "https://")):
            raise AuthError(
                f"registry {self.host} sent a token realm that is not a URL: "
                f"{printable(realm, 120)!r}"
            )
        realm_url = httpx.URL(realm)
        try:
            check_hop(httpx.URL(self.endpoint.base_url), realm_url, self.host, "token service")
        except RegistryError as exc:
            raise AuthError(str(exc)) from None
        where = f"token request to {_origin_text(realm_url)}"
        params: list[tuple[str, str | int | float | bool | None]] = []
        if challenge.service:
            params.append(("service", challenge.service))
        params.extend(("scope", s) for s in scopes)
        headers: dict[str, str] = {}
        if creds is not None and creds.identity_token:
            form = dict(params)
            form.update(
                grant_type="refresh_token",
                refresh_token=creds.identity_token,
                client_id="distroless",
            )
            if scopes:
                form["scope"] = " ".join(scopes)
            make: Callable[[], httpx.Request] = lambda: self._http.build_request(  # noqa: E731
                "POST", realm, data=form
            )
        else:
            if creds is not None:
                headers["Authorization"] = creds.basic_header()
            make = lambda: self._http.build_request(  # noqa: E731
                "GET", realm, params=params, headers=headers
            )
        resp = self._send_simple(make, where)
        try:
            if resp.status_code in (401, 403):
                who = f"user {creds.username!r}" if creds and creds.username else "anonymous"
                raise AuthError(
                    f"registry {self.host} rejected the credentials of {who} for "
                    f"{' '.join(scopes) or 'login'}; check `distroless login {self.host}`"
                )
            if resp.status_code in _REDIRECTS:
                # Not followed: the request carries the credentials.
                raise AuthError(
                    f"the token service of registry {self.host} ({_origin_text(realm_url)}) "
                    f"answered with a redirect (HTTP {resp.status_code}), which is not followed"
                )
            if resp.status_code >= 300:
                raise registry_error(resp, where)
            body = read_capped(
                resp,
                TOKEN_LIMIT,
                lambda: AuthError(
                    f"the {where} for registry {self.host} returned more than {TOKEN_LIMIT} bytes"
                ),
                where,
            )
            try:
                data = json.loads(body)
                token = str(data.get("token") or data.get("access_token") or "")
                lifetime = float(data.get("expires_in") or 60)
            except (ValueError, AttributeError, TypeError, RecursionError, OverflowError):
                token, lifetime = "", 0.0
        except httpx.TransportError as exc:
            raise AuthError(
                f"the {where} for registry {self.host} was interrupted: {exc}"
            ) from None
        finally:
            resp.close()
        if not token:
            raise AuthError(
                f"token service {_origin_text(realm_url)} of registry {self.host} returned no token"
            )
        return token, lifetime

    # -- sending ---------------------------------------------------------------------------
    def _send_simple(self, make: Callable[[], httpx.Request], what: str) -> httpx.Response:
        last: Exception | None = None
        for attempt in range(self.retry.attempts):
            try:
                resp = self._http.send(make(), stream=True)
            except httpx.TransportError as exc:
                self._raise_permanent(exc)
                last = exc
                self._sleep(self.retry.delay(attempt))
                continue
            if resp.status_code in RETRY_STATUS and attempt + 1 < self.retry.attempts:
                resp.close()
                self._sleep(self.retry.delay(attempt, resp.headers.get("retry-after")))
                continue
            return resp
        raise RegistryError(f"{what} failed after {self.retry.attempts} attempts: {last}")

    def _send_redirecting(
        self, method: str, url: str, headers: Mapping[str, str], body: Body
    ) -> httpx.Response:
        current = httpx.URL(url)
        hdrs = dict(headers)
        for _ in range(_MAX_REDIRECTS + 1):
            content: bytes | Iterator[bytes] | None = iter(body()) if callable(body) else body
            req = self._http.build_request(method, current, headers=hdrs, content=content)
            resp = self._http.send(req, stream=True)
            location = resp.headers.get("location")
            if resp.status_code not in _REDIRECTS or not location:
                return resp
            resp.close()
            target = httpx.URL(urljoin(str(current), location))
            check_hop(current, target, self.host, "redirect target")
            if _origin(target) != _origin(current):
                hdrs = {k: v for k, v in hdrs.items() if k.lower() != "authorization"}
            if resp.status_code == 303 or (resp.status_code in (301, 302) and method == "POST"):
                method, body = "GET", None
                hdrs = {k: v for k, v in hdrs.items() if k.lower() != "content-length"}
            current = target
        raise RegistryError(f"too many redirects from {url}")

    def _raise_permanent(self, exc: httpx.TransportError) -> None:
        cause = _permanent_cause(exc)
        if cause is None:
            return
        if isinstance(cause, socket.gaierror):
            raise RegistryError(
                f"cannot resolve the name of registry {self.host} ({cause.strerror})"
            ) from None
        reason = getattr(cause, "verify_message", None) or getattr(cause, "reason", None) or cause
        raise RegistryError(
            f"TLS connection to registry {self.host} failed ({reason}); install its CA "
            "certificate in the system trust store, or use --insecure-registry for plain HTTP"
        ) from None

    def pause(self, attempt: int) -> None:
        """Back off before retry number ``attempt`` (for callers that retry whole exchanges)."""
        self._sleep(self.retry.delay(attempt))

    def _send_retrying(
        self, method: str, url: str, headers: Mapping[str, str], body: Body, retry: bool = True
    ) -> httpx.Response:
        last: Exception | None = None
        attempts = self.retry.attempts if retry else 1
        for attempt in range(attempts):
            try:
                resp = self._send_redirecting(method, url, headers, body)
            except httpx.TransportError as exc:
                self._raise_permanent(exc)
                last = exc
                self._sleep(self.retry.delay(attempt))
                continue
            if resp.status_code in RETRY_STATUS and attempt + 1 < attempts:
                resp.close()
                self._sleep(self.retry.delay(attempt, resp.headers.get("retry-after")))
                continue
            return resp
        raise RegistryError(f"{method} {url} failed after {attempts} attempt(s): {last}")

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        scopes: tuple[str, ...] = (),
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        retry: bool = True,
    ) -> httpx.Response:
        """Send an authorised request; the caller reads (or streams) and closes the response.

        ``path_or_url`` is a path under the endpoint or an absolute URL (an upload
        ``Location``).  A 401 is answered once with a fresh token; other statuses are
        returned as they are for the caller to interpret.  ``retry=False`` sends once:
        an interrupted upload must restart its session rather than repeat a request.
        """
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        check_hop(httpx.URL(self.endpoint.base_url), httpx.URL(url), self.host, "next URL")
        # Never hand our credentials to another origin (an upload Location may be one).
        same_origin = self._own_origin(httpx.URL(url))
        hdrs = dict(headers or {})
        auth = self._authorization(scopes) if same_origin else None
        if auth:
            hdrs["Authorization"] = auth
        resp = self._send_retrying(method, url, hdrs, body, retry)
        if resp.status_code != 401 or not same_origin:
            return resp
        self._refuse_foreign_challenge(resp, method, url)
        # An expired or too narrow token, or an anonymous ping on a private repository.
        challenge = self._pick_challenge(resp)
        resp.close()
        with self._lock:
            self._challenge, self._pinged = challenge, True
        auth = self._authorization(scopes, fresh=True)
        if auth:
            hdrs["Authorization"] = auth
        resp = self._send_retrying(method, url, hdrs, body, retry)
        self._refuse_foreign_challenge(resp, method, url)
        if resp.status_code == 401:
            resp.close()
            creds = self.credentials()
            if creds is None:
                raise AuthError(
                    f"registry {self.host} requires a login: run `distroless login {self.host}`"
                )
            who = f"user {creds.username!r}" if creds.username else "the saved identity token"
            raise AuthError(
                f"registry {self.host} rejected the credentials of {who}"
                f"{' for ' + ' '.join(scopes) if scopes else ''}; "
                f"check `distroless login {self.host}`"
            )
        return resp


def repo_scope(repository: str, *actions: str) -> str:
    return f"repository:{repository}:{','.join(actions or ('pull',))}"
