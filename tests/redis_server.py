"""A real `redis-server` on a free loopback port, for the tests of state shared between workers.

`.ci/run` installs Debian's redis-server; where it is missing the tests that need it skip and say why.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

STARTUP_DEADLINE_SECS = 10.0


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running_redis_server() -> Iterator[str]:
    """Start a throwaway redis-server (no persistence) and yield its URL; stopped afterwards."""
    binary = redis_server_binary()
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian package `redis-server`)")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="aura-redis-") as workdir:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + STARTUP_DEADLINE_SECS
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
