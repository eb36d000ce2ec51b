#!/usr/bin/env bash
# Regenerates Sources/Executables/hot-symbols.txt (as root): the functions a plugin runs on the
# per-pod path, which the release link (lld --symbol-ordering-file, Package.swift) places side by
# side at the start of the text. A plugin process then faults in far fewer pages of the
# multi-call binary: peak RSS and start-up fall (README, Performance). Symbols that no longer exist are
# ignored by the linker, so a stale file only costs some of the gain: rerun this after larger
# changes to the per-pod path.
#   bash Integration/Benchmarks/hot-symbols.sh
# How: a release build with symbols (SWIFT_CNI_PROFILE=1, in .build-prof), each scenario run under
# valgrind's callgrind (which lists every function executed), the names merged and sorted.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Integration/setup.sh
command -v valgrind >/dev/null || { apt-get install -y -qq --no-install-recommends valgrind >/dev/null; }

products=(host-local static macvlan ipvlan host-device bridge route-override multus whereabouts)
# Built as the release is shipped (setup.sh's release_flags): the functions a run executes depend on them.
SWIFT_CNI_PROFILE=1 swift build -c release "${release_flags[@]}" --product swift-cni --scratch-path .build-prof >&2

work=$(mktemp -d /tmp/swcni-hot.XXXXXX)
host=swcni-hot-host-$$ pod=swcni-hot-pod-$$
cleanup() { ip netns del "$host" 2>/dev/null || true; ip netns del "$pod" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/bin" "$work/out"
cp .build-prof/release/swift-cni "$work/bin/swift-cni"
strip --strip-debug "$work/bin/swift-cni"   # valgrind 3.19 cannot read DWARF 5
link_plugins "$work/bin"
ip netns add "$host"; ip netns add "$pod"
ip -n "$host" link add hot0 type veth peer name hot0p
ip -n "$host" link set hot0 up; ip -n "$host" link set hot0p up

n=0
# run PLUGIN COMMAND CONFIG [IFNAME]: one callgrind run in the host namespace.
run() {
  n=$((n + 1))
  echo "$3" | nsenter --net="/var/run/netns/$host" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$2" \
    CNI_CONTAINERID=hot1 CNI_NETNS="/var/run/netns/$pod" CNI_IFNAME="${4:-eth0}" CNI_PATH="$work/bin" \
    valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/out/$n.out" "$work/bin/$1" >/dev/null 2>&1 || true
}
for p in "${products[@]}"; do run "$p" VERSION '{"cniVersion":"1.0.0"}'; done
hl='{"type":"host-local","ranges":[[{"subnet":"10.77.0.0/24"}],[{"subnet":"fd00:77::/64"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"'$work'/ipam"}'
for cmd in ADD CHECK DEL; do
  run host-local "$cmd" '{"cniVersion":"1.0.0","name":"hot","type":"host-local","ipam":'"$hl"'}'
done
run static ADD '{"cniVersion":"1.0.0","name":"hot","type":"static","ipam":{"type":"static","addresses":[{"address":"10.78.0.5/24","gateway":"10.78.0.1"}]}}'
mv='{"cniVersion":"1.0.0","name":"hotmv","type":"macvlan","master":"hot0","ipam":'"$hl"'}'
run macvlan ADD "$mv"; run macvlan DEL "$mv"
br='{"cniVersion":"1.0.0","name":"hotbr","type":"bridge","bridge":"hotbr0","isGateway":true,"ipMasq":true,"macspoofchk":true,"ipam":'"$hl"'}'
run bridge ADD "$br"; run bridge DEL "$br"
wb='{"type":"whereabouts","range":"10.79.0.0/24","dataDir":"'$work'/wb"}'
run whereabouts ADD '{"cniVersion":"1.0.0","name":"hotwb","type":"whereabouts","ipam":'"$wb"'}'
mu='{"cniVersion":"1.0.0","name":"hotmu","type":"multus","cniDir":"'$work'/multus","binDir":"'$work'/bin","delegates":['"$mv"']}'
run multus ADD "$mu" eth0; run multus DEL "$mu" eth0

out=Sources/Executables/hot-symbols.txt
# In the order the runs first execute them: the first run (a VERSION) puts the start-up path every
# run shares at the very start, then each run adds what it alone needs, so one plugin's ADD finds
# its functions side by side instead of spread among every plugin's — fewer pages per run.
for i in $(seq 1 "$n"); do
  sed -n -E "s/^c?fn=\([0-9]+\) (.*)$/\1/p" "$work/out/$i.out" | sed -E "s/'[0-9]+$//"
done | awk '!seen[$0]++' > "$out"
echo "hot-symbols: $(wc -l < "$out") functions from $n runs -> $out" >&2
