#!/usr/bin/env bash
# The Prometheus server binary for tests of `harness campaign --prometheus URL` (Debian's
# `prometheus` package, 2.42 on bookworm), installed with apt-get when missing.
#
#   scripts/prometheus.sh path     install Prometheus if missing, print the binary's path
#
# Exit codes: 0 ok; 3 Prometheus is missing and cannot be installed; 2 usage. Messages go to
# stderr. The tests start their own server with a generated config on a free loopback port
# (tests/distributed/test_prometheus.py); nothing here starts a service.
set -euo pipefail

log() { echo "prometheus.sh: $*" >&2; }

find_bin() {
    local bin
    for bin in "${PROMETHEUS_BIN:-}" /usr/bin/prometheus "$(command -v prometheus 2>/dev/null || true)"; do
        if [[ -n "$bin" && -x "$bin" ]]; then echo "$bin"; return 0; fi
    done
    return 1
}

install_if_missing() {
    if find_bin >/dev/null; then return 0; fi
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
            log "Prometheus is not installed and installing needs root (apt-get install prometheus)"
            exit 3
        fi
    fi
    if ! command -v apt-get >/dev/null; then
        log "Prometheus is not installed and there is no apt-get to install it"
        exit 3
    fi
    log "installing Prometheus with apt-get (once)"
    export DEBIAN_FRONTEND=noninteractive
    # --no-install-recommends: the server alone, not the node exporter and its friends
    if ! { $sudo apt-get install -y -q --no-install-recommends prometheus >&2 \
            || { $sudo apt-get update -q >&2 && $sudo apt-get install -y -q --no-install-recommends prometheus >&2; }; }; then
        log "apt-get install prometheus failed"
        exit 3
    fi
    find_bin >/dev/null || { log "installed prometheus but found no binary"; exit 3; }
}

case "${1:-}" in
    path) install_if_missing; find_bin ;;
    *) echo "usage: $0 path" >&2; exit 2 ;;
esac
