"""Start ``dosefinding serve`` in a subprocess on a free loopback port, for the load and browser tests."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    db: Path
    admin_token: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_server(db: Path, token_file: Path, timeout: float = 30.0, *, certfile: Path | None = None,
                 keyfile: Path | None = None) -> Server:
    """Run the service on ``db`` and wait until it answers (over HTTPS with ``certfile`` and ``keyfile``).

    On a new database the first administrator's token is written to ``token_file``.
    """
    port = free_port()
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "dosefinding.cli", "serve", "--db", str(db), "--host", "127.0.0.1", "--port", str(port),
         "--admin-token-file", str(token_file)]
        + (["--certfile", str(certfile), "--keyfile", str(keyfile)] if certfile is not None and keyfile is not None else []),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"{'https' if certfile is not None else 'http'}://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {process.stderr.read().decode() if process.stderr else ''}")
            try:
                if httpx.get(url + "/", timeout=1.0, verify=ssl.create_default_context(cafile=certfile) if certfile else True).status_code == 200:
                    token = token_file.read_text().strip() if token_file.exists() else ""
                    return Server(process, url, db, token)
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in time")
    except BaseException:
        process.kill()
        process.wait(10)
        raise
