"""What an adapter that speaks HTTP with aiohttp needs from the environment: proxy and certificates.

Both follow the environment the provider SDKs' default clients follow, so moving an adapter from its SDK's
HTTP stack to aiohttp changes neither: `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` (credentials in
the proxy URL are sent as `Proxy-Authorization`), and httpx2's trust store (certifi, or `SSL_CERT_FILE` /
`SSL_CERT_DIR`). The proxy is looked up once per origin rather than per request: aiohttp's own `trust_env`
re-reads the environment and `~/.netrc` in a thread on every request, which under load cost more CPU than the
requests themselves.
"""

from __future__ import annotations

import base64
import functools
import ssl
import urllib.request

import attrs
import httpx2
from yarl import URL


@attrs.frozen
class ProxyRoute:
    """Where requests to one origin go: straight there (`url` None) or through this proxy.

    `headers` are for the proxy itself: aiohttp sends them on the CONNECT of an https request, but a plain
    http request goes to the proxy as it is, so they belong in that request's own headers.
    """

    url: URL | None = None
    headers: dict[str, str] | None = None


def proxy_route_from_environment(scheme: str, host: str) -> ProxyRoute:
    """The proxy named for `scheme://host` by `<scheme>_PROXY` (else `ALL_PROXY`), unless `NO_PROXY` excludes it."""
    if urllib.request.proxy_bypass(host):
        return ProxyRoute()
    proxies = urllib.request.getproxies()
    address = proxies.get(scheme) or proxies.get("all")
    if not address:
        return ProxyRoute()
    proxy = URL(address if "://" in address else f"http://{address}")
    if proxy.user is None:
        return ProxyRoute(proxy)
    credentials = base64.b64encode(f"{proxy.user}:{proxy.password or ''}".encode()).decode("ascii")
    return ProxyRoute(proxy.with_user(None), {"Proxy-Authorization": f"Basic {credentials}"})


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """The certificate-verifying context the SDKs use (built once: loading the trust store takes tens of ms)."""
    return httpx2.create_ssl_context()
