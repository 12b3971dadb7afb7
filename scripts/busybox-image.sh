#!/usr/bin/env bash
# Builds a busybox root file system tarball from Debian's busybox-static and prints its path.
# Usage: scripts/busybox-image.sh [OUT.tar]
set -euo pipefail
out=${1:-/var/tmp/berth-busybox.tar}
bb=/bin/busybox
[ -x "$bb" ] && [ "$(stat -c %s "$bb")" -gt 500000 ] || { echo "busybox-static is not installed (apt-get install busybox-static)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{bin,etc,tmp,root,home,var}
chmod 1777 "$dir/tmp"
cp "$bb" "$dir/bin/busybox"
for a in $("$bb" --list); do
    [ "$a" = busybox ] || ln -s busybox "$dir/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"
tar --numeric-owner --owner=0 --group=0 -C "$dir" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "$out"
