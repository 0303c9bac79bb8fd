"""Run the reference platform: the shop and the UnionPay-style gateway simulator.

Starts both on 127.0.0.1 (or --bind ADDR: the platform on a host of its own) as child processes (the shop under uvicorn, or gunicorn with N forked
uvicorn workers for --workers N; the gateway under uvicorn), waits until both answer /healthz,
writes the port file (JSON: shop_url, gateway_url, admin_token, pid, processes) atomically,
prints the URLs and runs until SIGINT/SIGTERM, then stops the children (SIGTERM, up to 10 s,
then SIGKILL) and exits 0. A child that dies makes it exit 2 naming the child.
Routes, fault knobs, presets and the time scale: docs/platform.md.

Example:
  harness shop --port 0 --port-file /tmp/shop.json --faults documented-problems --seed 7
  harness shop --workers 2 --faults my-faults.toml --time-scale 1
  harness shop --bind 10.0.0.5 --port 8000      # reachable from other hosts (a staging stand-in)
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from harness.config.paths import install_root, resolve_input
from harness.errors import InputError, RunFailedError
from harness.execute.platform_process import ServiceProcess, probe, stop_services
from harness.rundir import write_json_atomic

NAME = "shop"
HELP = "run the reference shop and the UnionPay-style gateway simulator (on 127.0.0.1, or --bind ADDR)"

HEALTH_TIMEOUT_S = 90.0
STOP_GRACE_S = 10.0
PROJECT_ROOT = install_root()  # holds services/ (checkout or site-packages): the children's cwd


def prepare_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=1, help="shop processes (>1: gunicorn, forked)")
    parser.add_argument("--faults", default="healthy",
                        help="preset (healthy, documented-problems) or a TOML file (default: healthy)")
    parser.add_argument("--bind", default="127.0.0.1", metavar="ADDR",
                        help="address the shop and the gateway listen on, and that their URLs and the port file "
                             "use (default 127.0.0.1; one of this host's addresses for other hosts to reach it)")
    parser.add_argument("--port", type=int, default=0, help="shop port (0: a free port)")
    parser.add_argument("--gateway-port", type=int, default=0, help="gateway port (0: a free port)")
    parser.add_argument("--port-file", type=Path, help="write the URLs, admin token and pids here (JSON)")
    parser.add_argument("--data-dir", type=Path, help="database, keys, logs (default: a new temp dir)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the catalogue and every fault draw")
    parser.add_argument("--admin-token", help="token for /admin/* and /sim/faults (default: random)")
    parser.add_argument("--time-scale", type=float, default=1 / 60,
                        help="wall seconds per protocol second (default 1/60: minutes become seconds)")
    parser.add_argument("--database", default="", help="postgresql://... (default: SQLite in the data dir)")
    parser.add_argument("--memray-out", type=Path, help="run the shop under memray, capture to this path")
    parser.add_argument("--sign-method", choices=("11", "01"), default="11",
                        help="UnionPay signMethod the shop uses: 11 SHA-256 shared key, 01 RSA")


def _validate(args: argparse.Namespace) -> None:
    if not 1 <= args.workers <= 64:
        raise InputError(f"--workers must be between 1 and 64, got {args.workers}")
    for flag, port in (("--port", args.port), ("--gateway-port", args.gateway_port)):
        if not 0 <= port <= 65535:
            raise InputError(f"{flag} must be between 0 and 65535, got {port}")
    if not (math.isfinite(args.time_scale) and 0 < args.time_scale <= 100):
        raise InputError(f"--time-scale must be a number in (0, 100], got {args.time_scale}")
    if args.database and not args.database.startswith(("postgresql://", "postgres://")):
        raise InputError(f"--database must be a postgresql:// URL, got {args.database!r}")
    if args.admin_token is not None and not (8 <= len(args.admin_token) <= 200 and args.admin_token.isprintable()):
        raise InputError("--admin-token must be 8-200 printable characters")
    if args.memray_out is not None and not args.memray_out.parent.is_dir():
        raise InputError(f"--memray-out: directory {args.memray_out.parent} does not exist")


def _listen(address: str, port: int, flag: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as error:
        sock.close()
        where = f"--bind {address}" if flag == "--port" or address != "127.0.0.1" else address
        raise RunFailedError(f"{flag} {port}: cannot listen on {address} ({where}): {error}") from error
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _start(role: str, argv: list[str], sock: socket.socket, env: dict, data_dir: Path) -> ServiceProcess:
    """Start one child under the platform supervisor (harness.execute.platform_process), handing it its
    listening socket; its output goes to DATA_DIR/ROLE.log."""
    child = ServiceProcess(role, argv, data_dir / f"{role}.log", env=env, cwd=PROJECT_ROOT,
                           pass_fds=(sock.fileno(),))
    child.start()
    return child


def _bind_address(value: str) -> str:
    """--bind as an IP address of this host (a name is resolved); InputError naming the flag."""
    import ipaddress
    text = value.strip().strip("[]")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        try:
            text = socket.getaddrinfo(text, None, type=socket.SOCK_STREAM)[0][4][0]
            address = ipaddress.ip_address(text)
        except (OSError, ValueError, IndexError) as error:
            raise InputError(f"--bind {value!r}: not an address of this host, and it does not resolve: {error}") from None
    if address.is_unspecified:
        raise InputError(f"--bind {value}: give one address (the URLs the platform hands out must name it), "
                         "not the wildcard")
    return str(address)


def _faults_spec(value: str) -> str:
    """A --faults file found from here or among the shipped profiles/faults/ (presets as given)."""
    if value.endswith(".toml") or "/" in value:
        return str(resolve_input(value))
    return value


def run(args: argparse.Namespace) -> int:
    from services.config import ServiceConfig
    from services.faults import load_faults
    from services.latency import KnobError
    from services.shop.db import Database
    from services.unionpay.keys import ensure_keys

    _validate(args)
    try:
        label, shop_faults, gateway_faults = load_faults(_faults_spec(args.faults))
    except KnobError as error:
        raise InputError(f"--faults {error}") from error
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="harness-shop-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir.resolve()
    admin_token = args.admin_token or secrets.token_urlsafe(24)
    ensure_keys(data_dir / "keys")
    try:  # create tables and seed once here, so forked workers never race to do it
        db = Database(args.database, data_dir)
        db.setup(args.seed)
        db.close()
    except Exception as error:
        raise RunFailedError(f"--database: cannot prepare the database: {error}") from error

    bind = _bind_address(args.bind)
    shop_sock, gateway_sock = _listen(bind, args.port, "--port"), _listen(bind, args.gateway_port, "--gateway-port")
    host = f"[{bind}]" if ":" in bind else bind
    shop_url = f"http://{host}:{shop_sock.getsockname()[1]}"
    gateway_url = f"http://{host}:{gateway_sock.getsockname()[1]}"
    config = ServiceConfig(shop_url=shop_url, gateway_url=gateway_url, data_dir=str(data_dir),
                           admin_token=admin_token, seed=args.seed, time_scale=args.time_scale,
                           database=args.database, sign_method=args.sign_method,
                           shop_faults=shop_faults, gateway_faults=gateway_faults)
    config_path = data_dir / "service-config.json"
    config_path.write_text(config.to_json())
    os.chmod(config_path, 0o600)
    env = {**os.environ, "SERVICE_CONFIG": str(config_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    py = [sys.executable, "-W", "ignore::DeprecationWarning"]
    shop_fd = str(shop_sock.fileno())
    if args.workers > 1:
        shop_cmd = ["-m", "gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-w", str(args.workers),
                    "--bind", f"fd://{shop_fd}", "--graceful-timeout", "5", "--log-level", "warning",
                    "services.shop.app:app_from_env()"]
    else:
        shop_cmd = ["-m", "services.serve", "shop", "--fd", shop_fd]
    # A fixed mmap threshold turns off glibc's dynamic one, so big freed buffers (scrypt's
    # 16 MiB) go back to the OS instead of staying resident: memory growth then means a leak.
    shop_env = {"MALLOC_MMAP_THRESHOLD_": "1048576", "MALLOC_ARENA_MAX": "2", **env}
    if args.memray_out:
        # PYTHONMALLOC=malloc: every allocation goes through malloc, so memray sees each object's
        # lifetime instead of pymalloc arenas (memray's advice for finding leaks).
        shop_env["PYTHONMALLOC"] = "malloc"
        shop_cmd = ["-m", "memray", "run", "--follow-fork", "-q", "-f", "-o", str(args.memray_out.resolve()),
                    *shop_cmd]
    children: list[ServiceProcess] = []
    stopping = {"signal": None}

    def on_signal(signum, _frame):
        stopping["signal"] = signum

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        children.append(_start("gateway", [*py, "-m", "services.serve", "gateway", "--fd",
                                           str(gateway_sock.fileno())], gateway_sock, env, data_dir))
        children.append(_start("shop", [*py, *shop_cmd], shop_sock, shop_env, data_dir))
        shop_sock.close()
        gateway_sock.close()
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        waiting = {"shop": shop_url, "gateway": gateway_url}
        while waiting:
            _check_alive(children)
            if stopping["signal"] is not None:
                return 0
            if time.monotonic() > deadline:
                raise RunFailedError(f"{', '.join(waiting)} did not answer /healthz within {HEALTH_TIMEOUT_S:.0f} s;"
                                     f" see {data_dir}/*.log")
            for role, url in list(waiting.items()):
                if probe(f"{url}/healthz") == 200:
                    del waiting[role]
            time.sleep(0.1)
        port_info = {"shop_url": shop_url, "gateway_url": gateway_url, "admin_token": admin_token,
                     "pid": os.getpid(),
                     "processes": [{"role": c.role, "pid": c.pid} for c in children],
                     "data_dir": str(data_dir), "time_scale": args.time_scale, "seed": args.seed,
                     "faults": label, "workers": args.workers,
                     "database": "postgresql" if args.database else "sqlite"}
        if args.port_file:
            write_json_atomic(args.port_file, port_info)
        print(f"shop:    {shop_url}\ngateway: {gateway_url}\ndata:    {data_dir}\nfaults:  {label}", flush=True)
        while stopping["signal"] is None:
            _check_alive(children)
            time.sleep(0.2)
        return 0
    finally:
        stop_services(children, STOP_GRACE_S)
        for s, handler in old.items():
            signal.signal(s, handler)


def _check_alive(children: list[ServiceProcess]) -> None:
    for child in children:
        child.check_alive()
