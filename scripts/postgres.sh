#!/usr/bin/env bash
# A throw-away PostgreSQL server on 127.0.0.1, for tests and `harness campaign --database URL`.
#
#   scripts/postgres.sh start      install PostgreSQL if missing (apt-get), initdb a fresh cluster
#                                  in a new temp dir, start it on a free loopback port, print:
#                                    line 1: the URL, postgresql://harness@127.0.0.1:PORT/shop
#                                    line 2: # dir: DIR   (give it to `stop`)
#   scripts/postgres.sh stop DIR   stop that server and delete DIR
#
# Exit codes: 0 ok; 3 PostgreSQL is missing and cannot be installed; 4 the server did not start;
# 2 usage. Messages go to stderr. The cluster trusts loopback connections and runs with
# fsync off: it holds test data only, never anything to keep.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

find_bin_dir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then echo "$dir"; return 0; fi
    done
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(command -v initdb)"; return 0
    fi
    return 1
}

install_if_missing() {
    if find_bin_dir >/dev/null; then return 0; fi
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
            log "PostgreSQL (initdb, pg_ctl) is not installed and installing needs root (apt-get install postgresql)"
            exit 3
        fi
    fi
    if ! command -v apt-get >/dev/null; then
        log "PostgreSQL (initdb, pg_ctl) is not installed and there is no apt-get to install it"
        exit 3
    fi
    log "installing PostgreSQL with apt-get (once)"
    export DEBIAN_FRONTEND=noninteractive
    if ! { $sudo apt-get install -y -q postgresql >&2 || { $sudo apt-get update -q >&2 && $sudo apt-get install -y -q postgresql >&2; }; }; then
        log "apt-get install postgresql failed"
        exit 3
    fi
    find_bin_dir >/dev/null || { log "installed postgresql but found no initdb/pg_ctl"; exit 3; }
}

# initdb and postgres refuse to run as root: as root, run them as an unprivileged user.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "$OWNER" -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
        || echo $(( 20000 + RANDOM % 40000 ))
}

start() {
    install_if_missing
    local bin dir port attempt
    bin=$(find_bin_dir)
    OWNER=$(id -un)
    if [[ $(id -u) -eq 0 ]]; then
        if id postgres >/dev/null 2>&1; then OWNER=postgres; else OWNER=nobody; fi
    fi
    # /tmp rather than a caller's dir: the owner must be able to reach it.
    dir=$(mktemp -d "${TMPDIR:-/tmp}/harness-pg.XXXXXX")
    chmod 755 "$dir"
    [[ $(id -u) -eq 0 ]] && chown "$OWNER" "$dir"
    if ! as_owner "$bin/initdb" -D "$dir/data" -U harness -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        && ! as_owner "$bin/initdb" -D "$dir/data" -U harness -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1; then
        log "initdb failed; see $dir/initdb.log:"; tail -5 "$dir/initdb.log" >&2; exit 4
    fi
    for attempt in 1 2 3; do
        port=$(free_port)
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            >/dev/null 2>&1; then
            if as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U harness shop >/dev/null 2>>"$dir/server.log"; then
                echo "postgresql://harness@127.0.0.1:$port/shop"
                echo "# dir: $dir"
                return 0
            fi
            as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
        fi
        log "start on port $port failed (attempt $attempt)"
    done
    log "the server did not start; see $dir/server.log:"; tail -5 "$dir/server.log" >&2 || true
    exit 4
}

stop() {
    local dir=${1:-}
    if [[ -z "$dir" || ! -d "$dir" || "$(basename "$dir")" != harness-pg.* ]]; then
        log "stop needs the directory that start printed (harness-pg.*), got '${dir}'"; exit 2
    fi
    local bin; bin=$(find_bin_dir)
    OWNER=$(stat -c %U "$dir")
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 20 stop >/dev/null 2>&1 \
            || as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *) echo "usage: scripts/postgres.sh start | stop DIR" >&2; exit 2 ;;
esac
