"""Ports for the servers tests start (a Jupyter server, a hub, ngshare)."""

from __future__ import annotations

import random
import socket
from pathlib import Path


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports below the kernel's ephemeral range. A port the kernel
    hands out for ``bind(0)`` can be taken by any other process (the other pytest worker's
    kernels and Dask clients) between the check and the server's own bind; ports below the
    range are only ever taken on purpose. Checked on 0.0.0.0, where ngshare binds."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    candidates = list(range(20_000, max(20_001, min(low, 30_000))))
    random.SystemRandom().shuffle(candidates)
    ports: list[int] = []
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError("no free ports below the ephemeral range")
