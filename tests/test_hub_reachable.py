"""fusion.hub.hub_reachable asks through huggingface_hub's own HTTP session: its offline mode, its endpoint
(with a port) and the environment's proxies apply. Local HTTP servers stand in for the Hub and for a proxy."""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from huggingface_hub import constants
from huggingface_hub.utils import close_session

from fusion.hub import hub_reachable
from tests.support import free_port

PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "all_proxy",
              "no_proxy")


@pytest.fixture
def online(monkeypatch):
    """huggingface_hub out of offline mode (conftest sets HF_HUB_OFFLINE=1), no proxy in the environment, and a
    fresh HTTP session before and after (huggingface_hub's session reads the proxies when it is created)."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    close_session()
    yield monkeypatch
    close_session()


@pytest.fixture
def server():
    """A local HTTP server that answers every request with 200 and records (method, request target)."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            seen.append((self.command, self.path))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        do_HEAD = do_GET = _answer

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


def test_offline_mode_is_huggingface_hubs_own(monkeypatch):
    import huggingface_hub.utils
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.utils, "get_session", lambda: pytest.fail("no request in offline mode"))
    assert hub_reachable() is False


def test_an_endpoint_with_a_port_is_asked_over_http(online, server):
    url, seen = server
    online.setattr(constants, "ENDPOINT", url)        # HF_ENDPOINT=http://127.0.0.1:<port>: the socket check broke here
    assert hub_reachable() is True and seen == [("HEAD", "/")]


def test_nothing_listening_is_unreachable_at_once(online):
    online.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{free_port()}")
    t0 = time.time()
    assert hub_reachable(timeout=2) is False
    assert time.time() - t0 < 5


def test_the_environments_proxy_is_used(online, server):
    """An endpoint this machine cannot resolve is reachable through the proxy named in HTTP_PROXY, which gets the
    request in proxy form (the absolute URL); without the proxy it is unreachable."""
    proxy, seen = server
    online.setattr(constants, "ENDPOINT", "http://hub.invalid:8080")
    assert hub_reachable(timeout=2) is False and seen == []
    online.setenv("HTTP_PROXY", proxy)
    close_session()
    assert hub_reachable(timeout=2) is True
    assert seen == [("HEAD", "http://hub.invalid:8080/")]
