#!/usr/bin/env bash
# Installs what building and testing berth needs on Debian 12 (run as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(libseccomp-dev pkg-config gcc busybox-static skopeo docker-registry apache2-utils
      python3-venv docker-compose nftables)
# The API tests drive berth with the docker CLI (client only; these machines ship one).
command -v docker >/dev/null || pkgs+=(docker.io)
missing=()
for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
    # The tests start their own registries on free ports; the packaged service is not needed.
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
    # Nor is dockerd: berth is the engine under test.
    systemctl disable --now docker.service docker.socket containerd >/dev/null 2>&1 || true
fi
# docker-py from PyPI for the API tests, in a virtualenv outside the clone (reused by later runs).
py=${BERTH_PYENV:-/var/tmp/berth-pyenv}
if ! "$py/bin/python" -c 'import docker' >/dev/null 2>&1; then
    python3 -m venv "$py"
    "$py/bin/pip" install -q 'docker>=7,<8'
fi
command -v cargo >/dev/null || { echo "cargo is missing: install Rust (rustup) first" >&2; exit 1; }
