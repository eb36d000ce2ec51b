#!/usr/bin/env bash
# Coverage-guided fuzzing of the JSON parser/serializer against Foundation (JSONFuzz.swift), of
# the DHCP decoders (DHCPFuzz.swift: messages, UDP/IPv4 frames, leases; half the time), of the
# kubeconfig reader over libyaml (YAMLFuzz.swift; half the time) and of every
# plugin's config decoder, CNI_ARGS and results of every version (Configs/FuzzConfigs.swift), as the
# README's test command runs it:
#   bash Integration/Fuzz/run.sh [seconds]   (default 60)
# Builds with libFuzzer + AddressSanitizer into .build/fuzz/, starts from the committed corpus
# (Integration/Fuzz/corpus/json, read only) and a scratch corpus that is thrown away, and fails on
# any crash or disagreement. Prints "fuzz: N executions, 0 crashes" at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-${SWCNI_FUZZ_SECONDS:-60}}"
mkdir -p .build/fuzz
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# fuzz NAME SECONDS MAXLEN CORPUS SOURCES...: builds .build/fuzz/NAME-fuzz when a source changed,
# runs it from the committed corpus (read only) and a scratch one, fails on any finding.
fuzz() {
  local name=$1 secs=$2 maxlen=$3 corpus=$4; shift 4
  local bin=.build/fuzz/$name-fuzz
  if [ ! -x "$bin" ] || [ -n "$(find "$@" -newer "$bin" 2>/dev/null)" ]; then
    # One module of all the sources: their imports of each other's modules go.
    local src="$scratch/src-$name" f
    mkdir -p "$src"
    for f in "$@"; do sed -E '/^import (IPAddressing|CNI)$/d' "$f" > "$src/$(basename "$f")"; done
    # shellcheck disable=SC2086  # FUZZ_FLAGS: extra swiftc arguments, split on purpose
    swiftc -sanitize=fuzzer,address -parse-as-library -module-name "Fuzz$name" -Onone ${FUZZ_FLAGS:-} "$src"/*.swift -o "$bin"
  fi
  run_fuzzer "$bin" "$name" "$secs" "$maxlen" "$corpus"
}

# fuzz_product NAME SECONDS MAXLEN CORPUS: the package's cni-fuzz-NAME target, built by SwiftPM
# with libFuzzer + AddressSanitizer in a build directory of its own (every module it imports
# instrumented), then run as above.
fuzz_product() {
  local name=$1 secs=$2 maxlen=$3 corpus=$4
  swift build --product "cni-fuzz-$name" --scratch-path .build/fuzz/spm \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING >&2
  run_fuzzer ".build/fuzz/spm/debug/cni-fuzz-$name" "$name" "$secs" "$maxlen" "$corpus"
}

# run_fuzzer BIN NAME SECONDS MAXLEN CORPUS
run_fuzzer() {
  local bin=$1 name=$2 secs=$3 maxlen=$4 corpus=$5
  local work="$scratch/$name" log="$scratch/$name.log"
  mkdir -p "$work"
  set +e
  SWIFT_BACKTRACE=enable=no "$bin" -max_total_time="$secs" -timeout=2 -rss_limit_mb=2048 -max_len="$maxlen" -print_final_stats=1 \
    -artifact_prefix="$work/" "$work" "$corpus" >"$log" 2>&1
  local rc=$?
  set -e
  local runs
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  if [ "$rc" -ne 0 ]; then
    tail -40 "$log"
    for a in "$work"/crash-* "$work"/timeout-* "$work"/leak-*; do
      [ -e "$a" ] && { echo "== reproducer $a:"; od -c "$a" | head -20; }
    done
    echo "fuzz $name: ${runs} executions, 1 crash"
    exit 1
  fi
  echo "fuzz $name: ${runs} executions, 0 crashes"
}

fuzz json "$seconds" 4096 Integration/Fuzz/corpus/json \
  Sources/CNI/JSONValue.swift Sources/CNI/JSONParser.swift Sources/CNI/JSONSerializer.swift Integration/Fuzz/JSONFuzz.swift
# The DHCP decoder: half the time (its input space is smaller).
fuzz dhcp "$(( (seconds + 1) / 2 ))" 1500 Integration/Fuzz/corpus/dhcp \
  Sources/DHCP/*.swift Sources/IPAddressing/*.swift Sources/CNI/*.swift Integration/Fuzz/DHCPFuzz.swift
# The kubeconfig reader over libyaml (a C parser and our tree of its events): half the time.
FUZZ_FLAGS="-I Sources/CYAML -lyaml" fuzz yaml "$(( (seconds + 1) / 2 ))" 65536 Integration/Fuzz/corpus/yaml \
  Sources/KubernetesClient/YAMLNode.swift Integration/Fuzz/YAMLFuzz.swift
# Every config decoder, CNI_ARGS and results of every version (the package's cni-fuzz-configs).
fuzz_product configs "$seconds" 8192 Integration/Fuzz/corpus/configs
