#!/usr/bin/env bash
# Installs dependencies, builds berth (release), puts it in /usr/local/bin and imports a busybox
# image made from Debian's busybox-static, so `berth run -it busybox sh` works right after.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
cargo build --release -p berth
install -m 0755 "${CARGO_TARGET_DIR:-target}/release/berth" /usr/local/bin/berth
tarball=$(./scripts/busybox-image.sh)
berth import -c 'CMD ["sh"]' "$tarball" busybox >/dev/null
echo "berth installed: $(berth -v); image busybox ready"
