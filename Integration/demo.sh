#!/usr/bin/env bash
# The README's demo: builds swift-cni's release executables, makes a throwaway "host" namespace
# with a veth parent link and a "pod" namespace, attaches a macvlan network with host-local IPAM
# (v4 and v6) to the pod through cnitool — all three ours — shows what the pod sees, checks and
# detaches it, and removes everything.
set -euo pipefail
cd "$(dirname "$0")/.."
source Integration/setup.sh

build_release cnitool swift-cni
BIN="$PWD/.build/release"
link_plugins "$BIN"
CNITOOL="$BIN/cnitool"

suffix=$$
HOST="swcni-demo-host-$suffix"
POD="swcni-demo-pod-$suffix"
WORK=$(mktemp -d /tmp/swcni-demo.XXXXXX)
cleanup() {
  ip netns del "$POD" 2>/dev/null || true
  ip netns del "$HOST" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$HOST"
ip netns add "$POD"
ip -n "$HOST" link add demo0 type veth peer name demo0peer
ip -n "$HOST" link set demo0 up
ip -n "$HOST" link set demo0peer up

mkdir -p "$WORK/net.d"
cat > "$WORK/net.d/10-demo.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "demo",
  "plugins": [
    {
      "type": "macvlan",
      "master": "demo0",
      "mode": "bridge",
      "ipam": {
        "type": "host-local",
        "ranges": [
          [ { "subnet": "10.99.0.0/24", "gateway": "10.99.0.1" } ],
          [ { "subnet": "fd00:99::/64" } ]
        ],
        "routes": [ { "dst": "0.0.0.0/0" }, { "dst": "::/0" } ],
        "dataDir": "$WORK/ipam"
      }
    }
  ]
}
JSON

export NETCONFPATH="$WORK/net.d" CNI_PATH="$BIN" CNI_CACHE_DIR="$WORK/cache" CNI_IFNAME=net1
tool() { nsenter --net="/var/run/netns/$HOST" -- "$CNITOOL" "$@"; }

echo "== cnitool add demo /var/run/netns/$POD"
tool add demo "/var/run/netns/$POD"
echo
echo "== in the pod namespace"
ip -n "$POD" -br addr show
ip -n "$POD" route show
ip -n "$POD" -6 route show
echo
echo "== cnitool check"
tool check demo "/var/run/netns/$POD" && echo "ok"
echo "== host-local's reservations"
for f in "$WORK"/ipam/demo/*; do
  case "$(basename "$f")" in lock|last_reserved_ip.*) continue ;; esac
  printf '%s  held by %s\n' "$(basename "$f")" "$(tr -d '\r' < "$f" | tr '\n' '/')"
done
echo "== cnitool del"
tool del demo "/var/run/netns/$POD" && echo "ok"
ip -n "$POD" -br addr show
ls "$WORK/ipam/demo"
