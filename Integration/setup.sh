#!/usr/bin/env bash
# Installs what swift-cni's build, demo and tests need on a fresh Debian 12 machine (as root).
# Swift itself (6.x, with the static SDK libraries) is expected on PATH; everything else comes
# from Debian's packages. Quiet and quick when everything is already there.
set -euo pipefail

packages=(
  libnl-3-dev libnl-route-3-dev   # netlink (design constraint)
  libyaml-dev                     # kubeconfigs (YAML) in swift-cni-full
  iproute2 util-linux             # ip, nsenter: namespaces and kernel state in tests
  containernetworking-plugins     # the Go reference plugins in /usr/lib/cni
  golang-go golang-github-appc-cni-dev  # builds a libcni-based cnitool for interop tests
  nftables                        # nft: the bridge's ipMasq and macspoofchk rules
  iptables                        # the bridge's ipMasqBackend "iptables", and Go's bridge (it masquerades with iptables)
  iputils-ping                    # ping: traffic between test pods
  podman runc                     # a real runtime running a container on our bridge (PodmanTests)
  containerd                      # the other runtime: ctr run --cni (ContainerdTests)
  busybox-static                  # the container's root filesystem (PodmanTests) and the guest's init
  time                            # GNU time: peak RSS in the benchmarks
  strace                          # which processes multus starts (MultusTests)
  python3 openssl curl            # the Kubernetes API test server (Integration/KubeAPI), its CA, requests to it
  python3-pip                     # kubernetes-validate (below) for the manifests in Conf/kubernetes
  python3-grpcio python3-protobuf protobuf-compiler  # the kubelet PodResources stand-in (Integration/KubeAPI)
  etcd-server etcd-client         # real etcd 3.4 for whereabouts' etcd datastore (tests, benchmarks)
  lintian                         # the .deb of Integration/package.sh is checked with it (PackagingTests)
  dnsmasq-base                    # a real DHCP server for the dhcp plugin's tests and benchmark
  systemd                         # systemd-socket-activate: the dhcp daemon started as its .socket unit does
  ca-certificates
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# kubernetes-validate (PyPI): checks Conf/kubernetes against the Kubernetes schemas in the tests.
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing kubernetes-validate (pip)" >&2
    python3 -m pip install -q --disable-pip-version-check kubernetes-validate >/dev/null 2>&1 \
      || python3 -m pip install -q --break-system-packages kubernetes-validate >/dev/null
  fi
fi

if ! command -v swift >/dev/null 2>&1; then
  for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
    [ -x "$d/swift" ] && export PATH="$d:$PATH"
  done
fi
command -v swift >/dev/null 2>&1 || { echo "setup: swift is not on PATH" >&2; exit 1; }

# build_release PRODUCT…: the release build as shipped. Every module, the dependencies' too, is
# compiled with -disable-concrete-type-metadata-mangled-name-accessors (Package.swift gives it to
# our own targets only): generic metadata through direct accessors instead of mangled names the
# runtime demangles at first use in every process. In swift-cni-full (then with AsyncHTTPClient, NIO) a
# whereabouts ADD on etcd took 20 % less user CPU with it (0.57 vs 0.71 s per 100 ADDs).
# And with -function-sections: one section per function, which the link's symbol ordering
# (hot-symbols.txt) needs to gather a plugin's functions instead of whole modules.
# Changing a flag that only affects code generation does not rebuild an existing build
# directory: swift-frontend keeps an object whose IR hash (.swift_modhash) is unchanged. Remove
# .build/*/release (and .build-prof) once after such a change.
release_flags=(-Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors
               -Xswiftc -Xfrontend -Xswiftc -function-sections)
build_release() {
  local p
  for p in "$@"; do swift build -c release "${release_flags[@]}" --product "$p" >&2; done
}

# link_plugins DIR: each plugin name in DIR becomes a link to DIR/swift-cni (the multi-call
# executable), as an install makes them.
link_plugins() {
  local p
  for p in $("$1/swift-cni" --list); do ln -sfn swift-cni "$1/$p"; done
}
