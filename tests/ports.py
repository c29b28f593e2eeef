"""Free TCP ports on 127.0.0.1 for the servers, workers and tuners the tests start."""

import socket


def free_port() -> int:
    """A port nothing listens on now (the OS picks it; a race with other processes is possible)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
