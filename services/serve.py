"""Child-process entry point: ``python -m services.serve shop|gateway --fd N`` runs one
service under uvicorn on an already bound socket (handed over by `harness shop`); the
config comes from $SERVICE_CONFIG."""

from __future__ import annotations

import argparse
import socket
import sys

import uvicorn


def main(argv: list[str] | None = None) -> int:
    """Run the service until SIGTERM/SIGINT; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m services.serve")
    parser.add_argument("role", choices=("shop", "gateway"))
    parser.add_argument("--fd", type=int, required=True, help="listening socket file descriptor")
    args = parser.parse_args(argv)
    factory = "services.shop.app:app_from_env" if args.role == "shop" else "services.unionpay.app:app_from_env"
    # socket.socket(fileno=) detects the family (AF_INET). uvicorn's own --fd assumes AF_UNIX, and
    # then asyncio never sets TCP_NODELAY on accepted connections: 40 ms delayed-ACK stalls.
    sock = socket.socket(fileno=args.fd)
    config = uvicorn.Config(factory, factory=True, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=5, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
