"""The bench's stack knows its own services: distinct ports, and a /healthz answered by
another process on a service's port is not taken for the service's."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from bench.stack import free_ports, listening_inodes, listens_on


def test_ports_chosen_together_are_distinct() -> None:
    for _ in range(20):
        ports = free_ports(8)
        assert len(set(ports)) == 8


def test_a_port_is_this_process_s_only_if_it_holds_the_listening_socket() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert listens_on(os.getpid(), port)
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            assert not listens_on(other.pid, port)
        finally:
            other.kill()
            other.wait()
    assert not listens_on(os.getpid(), port)  # closed


def test_listening_inodes_reads_only_listeners_of_the_port() -> None:
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"
        "  timeout inode\n"
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000"
        "     0        0 111 1 0 100 0 0 10 0\n"
        "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000"
        "     0        0 222 1 0 20 4 30 10 -1\n"
        "   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000"
        "     0        0 333 1 0 100 0 0 10 0\n"
    )
    assert listening_inodes(0x1F90, table) == {"111"}
