#!/usr/bin/env bash
# Regenerates Sources/Executables/hot-symbols.txt (as root): the functions a plugin runs on the
# per-pod path, which the release link (lld --symbol-ordering-file, Package.swift) places side by
# side at the start of the text, and likewise the data it writes, at the start of .data and .bss.
# A plugin process then faults in far fewer pages of the
# multi-call binary: peak RSS and start-up fall (README, Performance). Symbols that no longer exist are
# ignored by the linker, so a stale file only costs some of the gain: rerun this after larger
# changes to the per-pod path. swift-cni-full's client path (whereabouts on etcd and on the
# Kubernetes API: NIO, TLS, the kubeconfig) follows, when etcd, python3 and openssl are here.
#   bash Integration/Benchmarks/hot-symbols.sh
# How: a release build with symbols (SWIFT_CNI_PROFILE=1, in .build-prof), each scenario run under
# valgrind's callgrind (which lists every function executed), the names merged and sorted; then
# every scenario again under valgrind's lackey, for the data addresses (hot-data.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
source Integration/setup.sh
command -v valgrind >/dev/null || { apt-get install -y -qq --no-install-recommends valgrind >/dev/null; }

products=(host-local static macvlan ipvlan host-device bridge route-override multus whereabouts)
# Built as the release is shipped (setup.sh's release_flags): the functions a run executes depend on them.
# The link maps tell which input section holds each function (below).
for product in swift-cni swift-cni-full; do
  SWIFT_CNI_PROFILE=1 swift build -c release "${release_flags[@]}" -Xlinker -Map=".build-prof/$product.map" \
    -Xlinker --no-demangle --product "$product" --scratch-path .build-prof >&2
done

work=$(mktemp -d /tmp/swcni-hot.XXXXXX)
host=swcni-hot-host-$$ pod=swcni-hot-pod-$$
servers=()
cleanup() {
  local p; for p in "${servers[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del "$host" 2>/dev/null || true; ip netns del "$pod" 2>/dev/null || true; rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/bin" "$work/full" "$work/out"
cp .build-prof/release/swift-cni "$work/bin/swift-cni"
cp .build-prof/release/swift-cni-full "$work/full/swift-cni-full"
strip --strip-debug "$work/bin/swift-cni" "$work/full/swift-cni-full"   # valgrind 3.19 cannot read DWARF 5
link_plugins "$work/bin"
# The cluster plugins as a node image installs them: straight to swift-cni-full.
ln -s swift-cni-full "$work/full/whereabouts"
ip netns add "$host"; ip netns add "$pod"
ip -n "$host" link add hot0 type veth peer name hot0p
ip -n "$host" link set hot0 up; ip -n "$host" link set hot0p up
# Loopback up: etcd and the API test server listen on 127.0.0.1 in this namespace. With it down
# every cluster ADD failed to connect, and the list missed the client's whole exchange (HTTP/2,
# HPACK, TLS, the store's transaction): an etcd ADD took 101 text page faults, 69 with it listed.
ip -n "$host" link set lo up

# The servers swift-cni-full's client path talks to (whereabouts on etcd, HTTP, and on the
# Kubernetes API, HTTPS with a kubeconfig), when etcd and the API test server can run here.
we= wk=
if [[ -x /usr/bin/etcd ]] && command -v curl >/dev/null; then
  port=$((20000 + RANDOM % 10000))
  nsenter --net="/var/run/netns/$host" etcd --name hot --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$port" \
    --advertise-client-urls "http://127.0.0.1:$port" --listen-peer-urls "http://127.0.0.1:$((port + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" --initial-cluster "hot=http://127.0.0.1:$((port + 1))" \
    --log-level error >"$work/etcd.log" 2>&1 &
  servers+=($!)
  for _ in $(seq 50); do
    nsenter --net="/var/run/netns/$host" curl -s "http://127.0.0.1:$port/health" | grep -q true && break; sleep 0.2
  done
  we='{"type":"whereabouts","datastore":"etcd","etcd_host":"127.0.0.1:'$port'","range":"10.80.PASS.0/24","dataDir":"'$work'/wbe","configuration_path":"'$work'/none"}'
fi
if command -v openssl >/dev/null && [[ -x /usr/bin/python3 ]]; then
  k="$work/kube"; mkdir -p "$k"
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$k/ca.key" -out "$k/ca.pem" -days 2 -subj /CN=hot-ca 2>/dev/null
  openssl req "${ec[@]}" -keyout "$k/srv.key" -out "$k/srv.csr" -subj /CN=hot 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$k/ext"
  openssl x509 -req -in "$k/srv.csr" -CA "$k/ca.pem" -CAkey "$k/ca.key" -CAcreateserial -out "$k/srv.pem" -days 2 \
    -extfile "$k/ext" 2>/dev/null
  echo hot-token >"$k/token"
  kport=$((30000 + RANDOM % 10000))
  nsenter --net="/var/run/netns/$host" /usr/bin/python3 Integration/KubeAPI/kube-api-server.py --cert "$k/srv.pem" \
    --key "$k/srv.key" --token-file "$k/token" --port "$kport" >"$k/log" 2>&1 &
  servers+=($!)
  for _ in $(seq 50); do grep -q listening "$k/log" && break; sleep 0.1; done
  printf '%s\n' "apiVersion: v1" "kind: Config" "clusters:" "- name: hot" "  cluster:" \
    "    server: https://127.0.0.1:$kport" "    certificate-authority: $k/ca.pem" "users:" "- name: hot" "  user:" \
    "    tokenFile: $k/token" "contexts:" "- name: hot" "  context:" "    cluster: hot" "    user: hot" \
    "current-context: hot" >"$k/kubeconfig"
  wk='{"type":"whereabouts","kubernetes":{"kubeconfig":"'$k'/kubeconfig"},"range":"10.81.PASS.0/24","dataDir":"'$work'/wbk","configuration_path":"'$work'/none"}'
fi

n=0 tool=callgrind
traces_bin=() traces_full=()
# run PLUGIN COMMAND CONFIG [IFNAME]: one run under valgrind's $tool in the host namespace
# (PLUGIN may be a path under $work; CNI_ARGS is $cni_args when set). callgrind lists the
# functions a run executes; lackey its loads and stores, of which the data addresses are kept.
cni_args=
run() {
  n=$((n + 1))
  local exe="$work/bin/$1"; [[ $1 == */* ]] && exe="$work/$1"
  local trace=(--tool=callgrind --demangle=no --callgrind-out-file="$work/out/$n.out")
  [[ $tool == lackey ]] && trace=(--tool=lackey --trace-mem=yes --log-file="$work/out/$n.lackey")
  echo "$3" | nsenter --net="/var/run/netns/$host" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$2" \
    CNI_CONTAINERID=hot1 CNI_NETNS="/var/run/netns/$pod" CNI_IFNAME="${4:-eth0}" CNI_PATH="$work/bin" \
    ${cni_args:+CNI_ARGS="$cni_args"} \
    valgrind "${trace[@]}" "$exe" >"$work/out/$n.stdout" 2>&1 \
    || { local rc=$? why; why="$1 $2 under $tool (exit $rc): $(grep -o '"\(msg\|details\)": *"[^"]*"' "$work/out/$n.stdout" | head -2 | tr '\n' ' ')"
         if [[ -n $lenient ]]; then echo "hot-symbols: (expected) $why" >&2; else failed+=("$why"); fi; }
  if [[ $tool == lackey ]]; then
    # Instruction fetches are most of a trace (hundreds of MB for a Kubernetes ADD): dropped at once.
    grep -E '^ [LSM] ' "$work/out/$n.lackey" >"$work/out/$n.data" || true
    rm -f "$work/out/$n.lackey"
    if [[ $1 == full/* ]]; then traces_full+=("$work/out/$n.data"); else traces_bin+=("$work/out/$n.data"); fi
  fi
}
# A run that fails lists only its error path: the list would miss what the plugin runs when it
# works. Every scenario here is meant to succeed; the script ends with an error if one did not.
failed=() lenient=
scenarios() {
  cni_args=
  for p in "${products[@]}"; do run "$p" VERSION '{"cniVersion":"1.0.0"}'; done
  local hl='{"type":"host-local","ranges":[[{"subnet":"10.77.0.0/24"}],[{"subnet":"fd00:77::/64"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"'$work'/ipam"}'
  for cmd in ADD CHECK DEL; do
    run host-local "$cmd" '{"cniVersion":"1.0.0","name":"hot","type":"host-local","ipam":'"$hl"'}'
  done
  run static ADD '{"cniVersion":"1.0.0","name":"hot","type":"static","ipam":{"type":"static","addresses":[{"address":"10.78.0.5/24","gateway":"10.78.0.1"}]}}'
  local mv='{"cniVersion":"1.0.0","name":"hotmv","type":"macvlan","master":"hot0","ipam":'"$hl"'}'
  run macvlan ADD "$mv"; run macvlan DEL "$mv"
  local br='{"cniVersion":"1.0.0","name":"hotbr","type":"bridge","bridge":"hotbr0","isGateway":true,"ipMasq":true,"macspoofchk":true,"ipam":'"$hl"'}'
  run bridge ADD "$br"; run bridge DEL "$br"
  local wb='{"type":"whereabouts","range":"10.79.0.0/24","dataDir":"'$work'/wb"}'
  for cmd in ADD DEL; do run whereabouts "$cmd" '{"cniVersion":"1.0.0","name":"hotwb","type":"whereabouts","ipam":'"$wb"'}'; done
  local mu='{"cniVersion":"1.0.0","name":"hotmu","type":"multus","cniDir":"'$work'/multus","binDir":"'$work'/bin","delegates":['"$mv"']}'
  run multus ADD "$mu" eth0; run multus DEL "$mu" eth0
  # Then swift-cni-full's client path, after everything the per-pod executable runs (so its order
  # stays as it was). As a runtime in a cluster calls them: with the pod.
  cni_args='K8S_POD_NAMESPACE=hot;K8S_POD_NAME=hot1'
  if [[ -n $we ]]; then
    for cmd in ADD DEL; do run full/whereabouts "$cmd" '{"cniVersion":"1.0.0","name":"hotwe","type":"whereabouts","ipam":'"${we//PASS/$pass}"'}'; done
  fi
  if [[ -n $wk ]]; then
    # Under lackey (a line of output per load and store) TLS is slower than the client's
    # deadlines (2.5 s to connect, 12.5 s for a request): these runs fail and give what they
    # touched until then (the handshake, the request sent) and their error path, not the answer's
    # handling. callgrind's runs are complete. A failure of any kind is let pass here.
    [[ $tool == lackey ]] && lenient=1
    for cmd in ADD DEL; do run full/whereabouts "$cmd" '{"cniVersion":"1.0.0","name":"hotwk","type":"whereabouts","ipam":'"${wk//PASS/$pass}"'}'; done
    lenient=
  fi
}
pass=0
scenarios
runs=$n
# The same again under lackey, from the state the first pass found: what it left in files and
# links is removed, and the cluster runs take a pool of their own (an ADD and a DEL leave the
# pool's object or key behind, and an ADD into an existing pool takes another path).
tool=lackey pass=1
rm -rf "$work/ipam" "$work/wb" "$work/wbe" "$work/wbk" "$work/multus"
ip -n "$host" link del hotbr0 2>/dev/null || true
scenarios
# The data the runs write, per executable (each has its own layout), the per-pod one's first.
{
  python3 Integration/Benchmarks/hot-data.py .build-prof/swift-cni.map "${traces_bin[@]}"
  ((${#traces_full[@]} == 0)) || python3 Integration/Benchmarks/hot-data.py .build-prof/swift-cni-full.map "${traces_full[@]}"
} | awk '!seen[$0]++' >"$work/data"

out=Sources/Executables/hot-symbols.txt
# In the order the runs first execute them: the first run (a VERSION) puts the start-up path every
# run shares at the very start, then each run adds what it alone needs, so one plugin's ADD finds
# its functions side by side instead of spread among every plugin's — fewer pages per run.
# callgrind names a function it has no symbol for by its address (glibc's ifunc PLT stubs):
# nothing lld could place, left out.
for i in $(seq 1 "$runs"); do
  sed -n -E "s/^c?fn=\([0-9]+\) (.*)$/\1/p" "$work/out/$i.out" | sed -E "s/'[0-9]+$//"
done | grep -v -E '^0x[0-9a-f]+$' | awk '!seen[$0]++' > "$work/order"
# Corrections to the order callgrind saw:
# - lld moves sections, not functions. A function in a big section (the standard library's
#   Swift.o keeps most of its 1.6 MB of code in one .text; _RegexParser and _StringProcessing come
#   in whole through a local value witness whose name every module has) would drag that whole
#   section to where it ranks and push every function after it megabytes away. Such functions go
#   last, so the rest of the hot code stays together.
# - The C start-up's own code (crt1's _start, crtbegin's frame_dummy; glibc's _dl_new_object,
#   which its static start-up runs for the program's link map) callgrind does not name: first.
# - Data: lld orders .data and .bss sections by the same list. The small sections the lackey runs
#   wrote go first, in the order they were first touched (hot-data.py: a Swift object's lazy
#   metadata caches share one small .bss, and an etcd ADD touched 154 of them across 60 pages,
#   most a read fault and then a write fault). Then the Swift runtime's small variables the runs
#   did not touch (once-flags, locks, the roots of its caches: a section each, 3 KiB of zeros and
#   35 KiB of data in all; with CStartup's argv), in case another machine's path touches them.
# - glibc picks a string function's variant (sse2, avx2, evex, avx512…) for the CPU it runs on;
#   valgrind's (avx2) need not be the machine's. The evex/avx512 and avx2 variants of the hot ones
#   (what x86-64 servers pick) go together right after the start-up code: each process runs one
#   of each, every other one is never touched, so beside the hot code they only spread it.
cat .build-prof/swift-cni.map .build-prof/swift-cni-full.map > "$work/maps"
nm "$work/bin/swift-cni" "$work/full/swift-cni-full" | awk 'NF > 1 {print $NF}' | awk '!seen[$0]++' > "$work/names"
awk -v big=65536 '
  function hex(s,  i, n) { n = 0; for (i = 1; i <= length(s); i++) n = n * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return n }
  function emit(f) { if (!(f in done)) { done[f] = 1; if (sect[f] > big) late[++nl] = f; else print f } }
  FILENAME == ARGV[1] {
    if ($5 ~ /:\(/) { size = hex($3); small = $5 ~ /(libswiftCore\.a\([A-Za-z0-9_]+\.cpp\.o\)|CStartup\.build\/[a-z]+\.c\.o):\(\.(bss|data)\./ && $5 !~ /:\(\.data\.rel/ && size < 4096 }
    else if (NF == 5) { if (size > sect[$5]) sect[$5] = size; if (small) vars[++nv] = $5 }
    next
  }
  FILENAME == ARGV[2] { names[++nn] = $0; next }
  FILENAME == ARGV[4] { data[++nd] = $0; next }
  FILENAME == ARGV[3] {
    order[++no] = $0
    if (match($0, /^__[a-z0-9]+_(sse2|ssse3|sse4|sse42|avx|avx2|evex|avx512)/)) family[substr($0, 1, index(substr($0, 3), "_") + 2)] = 1
    next
  }
  END {
    for (i = 1; i <= nd; i++) emit(data[i])
    for (i = 1; i <= nv; i++) emit(vars[i])
    emit("_start"); emit("frame_dummy"); emit("_dl_new_object")
    for (isa = 1; isa <= 2; isa++)
      for (i = 1; i <= nn; i++) {
        f = substr(names[i], 1, index(substr(names[i], 3), "_") + 2)
        if (!(f in family) || names[i] ~ /_rtm$/) continue
        if (isa == 1 ? names[i] ~ /_(evex|avx512)/ : names[i] ~ /_avx2?(_|$)/) emit(names[i])
      }
    for (i = 1; i <= no; i++) emit(order[i])
    for (i = 1; i <= nl; i++) print late[i]
  }' "$work/maps" "$work/names" "$work/order" "$work/data" > "$work/list"
if ((${#failed[@]})); then
  printf 'hot-symbols: a run failed, the list would miss its path (%s left as it was): %s\n' "$out" "${failed[@]}" >&2
  exit 1
fi
cp "$work/list" "$out"
echo "hot-symbols: $(wc -l < "$out") symbols ($(wc -l < "$work/data") of them data) from $runs runs -> $out" >&2
