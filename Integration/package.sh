#!/usr/bin/env bash
# Builds swift-cni's two deliverables from the static release executables (as root):
#   bash Integration/package.sh deb    → .build/packages/swift-cni_<version>_amd64.deb
#   bash Integration/package.sh image  → podman image localhost/swift-cni:<version> and :latest, and
#                                        .build/packages/swift-cni_<version>_image.tar (podman save)
# The version is the project's one (Sources/Basics/Version.swift).
set -euo pipefail
cd "$(dirname "$0")/.."
source Integration/setup.sh

what=${1:-}
case "$what" in deb|image) ;; *) echo "usage: bash Integration/package.sh deb|image" >&2; exit 2 ;; esac

version=$(sed -n 's/.*static let version = "\(.*\)".*/\1/p' Sources/Basics/Version.swift)
build_release swift-cni swift-cni-full cnitool swift-cni-install
# Every plugin is a name of the multi-call swift-cni (a link to it); swift-cni-full beside it.
mapfile -t plugins < <(.build/release/swift-cni --list)
out=.build/packages
mkdir -p "$out"
work=$(mktemp -d /tmp/swcni-pkg.XXXXXX)
trap 'rm -rf "$work"' EXIT

if [ "$what" = image ]; then
  mkdir -p "$work/bin"
  # The installer copies the two executables to the host and links the plugin names there.
  # The names are links here too: the manifests run /usr/libexec/swift-cni/<name> (reconcile, dhcp daemon).
  for p in swift-cni swift-cni-full swift-cni-install; do install -m 0755 ".build/release/$p" "$work/bin/$p"; done
  link_plugins "$work/bin"
  podman build --quiet -f Integration/Packaging/Containerfile -t "localhost/swift-cni:$version" -t localhost/swift-cni:latest "$work"
  # Also as an archive (`podman load -i`), for machines and tests with storage of their own.
  rm -f "$out/swift-cni_${version}_image.tar"
  podman save --quiet -o "$out/swift-cni_${version}_image.tar" "localhost/swift-cni:$version"
  echo "image: localhost/swift-cni:$version ($out/swift-cni_${version}_image.tar)"
  exit 0
fi

# The Debian package: plugins in /opt/cni/bin (where runtimes look; Debian's own
# containernetworking-plugins live in /usr/lib/cni, so nothing clashes), cnitool in /usr/bin,
# the examples under /usr/share/doc. Lintian-clean but for what Integration/Packaging/lintian-overrides
# explains (static executables, /opt/cni/bin).
root="$work/root"
install -d "$root/DEBIAN" "$root/opt/cni/bin" "$root/usr/bin" "$root/usr/share/doc/swift-cni/examples"
for p in swift-cni swift-cni-full; do install -m 0755 ".build/release/$p" "$root/opt/cni/bin/$p"; done
for p in "${plugins[@]}"; do ln -s swift-cni "$root/opt/cni/bin/$p"; done
install -m 0755 .build/release/cnitool "$root/usr/bin/cnitool"
# The dhcp daemon's units (socket-activated; enable with systemctl enable --now swift-cni-dhcp.socket).
install -d "$root/lib/systemd/system"
install -m 0644 Conf/systemd/swift-cni-dhcp.socket Conf/systemd/swift-cni-dhcp.service "$root/lib/systemd/system/"
for f in Conf/*.conf Conf/*.conflist Conf/*.json; do install -m 0644 "$f" "$root/usr/share/doc/swift-cni/examples/"; done
install -m 0644 Integration/Packaging/copyright "$root/usr/share/doc/swift-cni/copyright"
install -d "$root/usr/share/lintian/overrides" "$root/usr/share/man/man1"
install -m 0644 Integration/Packaging/lintian-overrides "$root/usr/share/lintian/overrides/swift-cni"
gzip -9n < Integration/Packaging/cnitool.1 > "$root/usr/share/man/man1/cnitool.1.gz"
chmod 0644 "$root/usr/share/man/man1/cnitool.1.gz"
printf 'swift-cni (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- swift-cni developers <swift-cni@users.noreply.github.com>  %s\n' \
  "$version" "$version" "$(date -R -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" \
  | gzip -9n > "$root/usr/share/doc/swift-cni/changelog.gz"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: swift-cni
Version: $version
Architecture: amd64
Maintainer: swift-cni developers <swift-cni@users.noreply.github.com>
Installed-Size: $size
Depends: iproute2
Recommends: nftables
Section: net
Priority: optional
Homepage: https://github.com/swift-cni/swift-cni
Description: Container Network Interface plugins written in Swift
 Drop-in replacements for the reference CNI plugins (macvlan, ipvlan, bridge,
 host-device, host-local, static, dhcp, route-override) and for multus,
 whereabouts and egress-router, as names of one static executable in
 /opt/cni/bin, with cnitool and the dhcp daemon's systemd units.
CONTROL
(cd "$root" && find opt usr lib -type f -exec md5sum {} + > DEBIAN/md5sums)
deb="$out/swift-cni_${version}_amd64.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "package: $deb"
