"""Every outbound webhook the portal sends: checked, pinned and signed.

Status page subscribers and the webhook contact methods of on-call pages both go through here.
Anyone may register a webhook URL on the public status page, and a URL must not turn the server
into a proxy into its own network (server-side request forgery). `target_check` resolves the host
and refuses loopback, private, link-local, reserved, multicast and unspecified addresses (IPv4
and IPv6, including IPv4 addresses embedded in IPv6 ones) unless an allow-list entry names the
network or the host. `post` connects to exactly the addresses that were checked — never resolving
the name again, so a DNS answer that changes between check and connect (rebinding) cannot
redirect it — and never follows redirects. `send` does both, so every send checks the URL again.

The allow-list is the admin's (the status page stores it); the app that stores it registers it
with `allow_list_register`, and `allow_list()` reads it for the senders that do not keep one.

Two signing schemes, one per kind of receiver:
- status page subscribers: Standard Webhooks (standardwebhooks.com), `webhook-id`,
  `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,
  with a secret `whsec_<base64 key>` (`sign`);
- paging gateways: `X-Firebreak-Timestamp` and `X-Firebreak-Signature: sha256=<hex HMAC-SHA256
  of "{timestamp}.{body}">` under the contact method's secret (`firebreak_signature`).
"""

import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
# Seconds to wait for a receiver to accept the connection, then for each read of its answer.
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 10.0
# What `send` keeps of a receiver's answer (a gateway's message id is in the first bytes).
REPLY_MAX_BYTES = 64 * 1024
# IPv6 prefixes that carry an IPv4 address in their last 32 bits and reach it through a
# translator: 64:ff9b::7f00:1 can mean 127.0.0.1.
_NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class WebhookRefused(Exception):
    """The URL may not be called: bad scheme, unknown host or a non-public address."""


class WebhookUnresolvable(WebhookRefused):
    """The URL's host could not be resolved (no such name, or DNS is down right now)."""


class WebhookDeliveryError(Exception):
    """The receiver did not accept the request; sending it again later may work.

    `status` is the HTTP status it answered, or None when no answer came.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Reply:
    """A receiver's 2xx answer: its status and the first REPLY_MAX_BYTES of its body."""

    status: int
    body: bytes


AllowList = Callable[[], Iterable[str]]
_allow_lists: dict[str, AllowList] = {}


def allow_list_register(provider: AllowList) -> AllowList:
    """Register (or replace) a function returning allow-list entries (see `target_check`)."""
    _allow_lists[f"{provider.__module__}.{provider.__qualname__}"] = provider
    return provider


def allow_list() -> list[str]:
    """Return the entries of every registered allow-list: none, unless an app registered one."""
    return [entry for provider in _allow_lists.values() for entry in provider()]


@dataclass(frozen=True)
class Target:
    """A checked webhook URL and the addresses it may be reached at."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default_port = 443 if self.scheme == "https" else 80
        return host if self.port == default_port else f"{host}:{self.port}"


def secret_new() -> str:
    """Return a new signing secret: `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Return the `webhook-signature` header value for a body sent with this id and time."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def firebreak_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """Return the `X-Firebreak-Signature` value of a paging gateway's body sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in prefix for prefix in _NAT64_PREFIXES):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_public(address: IPAddress) -> bool:
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        # Also shared (carrier-grade NAT), documentation and benchmarking ranges.
        or not address.is_global
    )


def _is_allowed(address: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            candidates.append(embedded)
    return any(
        candidate.version == network.version and candidate in network
        for candidate in candidates
        for network in networks
    )


def _address_ok(address: IPAddress, networks: list[IPNetwork]) -> bool:
    if _is_allowed(address, networks):
        return True
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and not _is_public(embedded):
            return False
    return _is_public(address)


def _parse_allowed(allowed: Iterable[str]) -> tuple[list[IPNetwork], set[str]]:
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    for entry in allowed:
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            hosts.add(entry.lower().rstrip("."))
    return networks, hosts


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookUnresolvable(f"The host {host} could not be found.") from exc
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # IPv6 link-local answers carry a zone ("fe80::1%eth0"); the address is what counts.
        address = str(sockaddr[0]).split("%", 1)[0]
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise WebhookUnresolvable(f"The host {host} could not be found.")
    return addresses


def target_check(url: str, *, allowed: Iterable[str] = ()) -> Target:
    """Resolve and check a webhook URL; return where it may be sent, or raise WebhookRefused.

    `allowed` holds allow-list entries: networks in CIDR notation (or single addresses) whose
    addresses are accepted although not public, and exact host names accepted as they resolve.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise WebhookRefused("The address must start with https:// or http://.")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused("The address must not contain a user name or password.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise WebhookRefused("The address has no host name.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookRefused("The address has an invalid port.") from exc
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError as exc:
        raise WebhookRefused(f"The host {host} is not a valid host name.") from exc
    networks, allowed_hosts = _parse_allowed(allowed)
    addresses = _resolve(ascii_host, port)
    if ascii_host.lower() not in allowed_hosts:
        for address in addresses:
            if not _address_ok(ipaddress.ip_address(address), networks):
                where = host if host == address else f"{host} ({address})"
                raise WebhookRefused(
                    f"{where} is a loopback, private or otherwise non-public address: "
                    "webhooks are only sent to addresses on the public internet."
                )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(
        url=url.strip(),
        scheme=parts.scheme,
        host=ascii_host,
        port=port,
        path=path,
        addresses=tuple(addresses),
    )


def send(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    allowed: Iterable[str],
    timeout: float | None = None,
) -> Reply:
    """Check the URL (again: its DNS may have changed), then POST the body to what was checked.

    Raises WebhookRefused (WebhookUnresolvable when the host was not found) before anything is
    sent, or WebhookDeliveryError; `timeout` (seconds to connect, then for each read) replaces
    the default ones.
    """
    target = target_check(url, allowed=allowed)
    return _post(
        target=target, body=body, headers=headers, timeout=timeout, reply_limit=REPLY_MAX_BYTES
    )


def post(*, target: Target, body: bytes, headers: Mapping[str, str]) -> int:
    """POST the body to the checked target's addresses in turn; return the 2xx status.

    Only a refused connection moves on to the next address: once a request has been sent, its
    answer is the outcome. Redirects are not followed; anything but 2xx raises.
    """
    return _post(target=target, body=body, headers=headers, timeout=None, reply_limit=0).status


def _post(
    *,
    target: Target,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float | None,
    reply_limit: int,
) -> Reply:
    if timeout is None:
        pool_timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS)
    else:
        pool_timeout = urllib3.Timeout(connect=timeout, read=timeout)
    request_headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": "Firebreak-Webhooks",
        **headers,
    }
    last_error = "no address to connect to"
    for address in target.addresses:
        pool: urllib3.HTTPConnectionPool
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address,
                target.port,
                timeout=pool_timeout,
                retries=False,
                maxsize=1,
                cert_reqs="CERT_REQUIRED",
                ca_certs=certifi.where(),
                server_hostname=target.host,
                assert_hostname=target.host,
            )
        else:
            pool = urllib3.HTTPConnectionPool(
                address, target.port, timeout=pool_timeout, retries=False, maxsize=1
            )
        try:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers=request_headers,
                redirect=False,
                retries=False,
                preload_content=False,
            )
            status = response.status
            reply = response.read(reply_limit) if reply_limit and 200 <= status < 300 else b""
            response.close()
        except (NewConnectionError, ConnectTimeoutError) as exc:
            last_error = f"could not connect to {address}: {_reason(exc)}"
            continue
        except (HTTPError, OSError) as exc:
            raise WebhookDeliveryError(f"request failed: {_reason(exc)}") from exc
        finally:
            pool.close()
        if 200 <= status < 300:
            return Reply(status=status, body=reply)
        if 300 <= status < 400:
            raise WebhookDeliveryError(
                f"answered HTTP {status}; redirects are not followed", status=status
            )
        raise WebhookDeliveryError(f"answered HTTP {status}", status=status)
    raise WebhookDeliveryError(last_error)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return f"{type(exc).__name__}: {reason}"[:200]
