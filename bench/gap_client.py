"""The client of bench/move_gap.py, run in the lab's client namespace: it connects to
ADDRESS:PORT every 10 ms and, when stdin closes, prints the time (the wall clock, which
the lab nodes share) of every connection that was served, one a line.

    python3 gap_client.py ADDRESS PORT < pipe
"""

from __future__ import annotations

import select
import socket
import sys
import time

PERIOD = 0.01
# an attempt nobody answers (the VIP between two hosts) is given up after this: with the
# period it bounds the error of a measured gap
ATTEMPT_TIMEOUT = 0.05


def served(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=ATTEMPT_TIMEOUT) as conn:
            return conn.recv(16).startswith(b"ok")
    except OSError:
        return False


def main() -> None:
    address, port = sys.argv[1], int(sys.argv[2])
    stamps: list[float] = []
    due = time.monotonic()
    while not select.select([sys.stdin], [], [], 0)[0]:
        if served(address, port):
            stamps.append(time.time())
        # after a slow attempt, go on from now: no burst of attempts to catch up
        due = max(due + PERIOD, time.monotonic())
        time.sleep(max(0.0, due - time.monotonic()))
    print("\n".join(f"{stamp:.6f}" for stamp in stamps))


if __name__ == "__main__":
    main()
