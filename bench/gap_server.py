"""The TCP service of bench/move_gap.py, run in the lab nodes by their python3: it greets
every connection to ADDRESS:PORT with "ok" and closes it. On SIGTERM (systemctl stop) it
closes its listening socket and exits, as a well-behaved service stops.

    python3 gap_server.py ADDRESS PORT
"""

from __future__ import annotations

import signal
import socket
import sys
from types import FrameType


def main() -> None:
    address, port = sys.argv[1], int(sys.argv[2])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, port))
    listener.listen(128)

    def stop(_signal: int, _frame: FrameType | None) -> None:
        listener.close()  # new connections are refused from here on
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    while True:
        connection, _ = listener.accept()
        with connection:
            connection.sendall(b"ok\n")


if __name__ == "__main__":
    main()
