#!/usr/bin/env bash
# Coverage-guided fuzzing of the JSON parser/serializer against Foundation (JSONFuzz.swift), as the
# README's test command runs it: bash Integration/Fuzz/run.sh [seconds]   (default 60)
# Builds with libFuzzer + AddressSanitizer into .build/fuzz/, starts from the committed corpus
# (Integration/Fuzz/corpus/json, read only) and a scratch corpus that is thrown away, and fails on
# any crash or disagreement. Prints "fuzz: N executions, 0 crashes" at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-${SWCNI_FUZZ_SECONDS:-60}}"
mkdir -p .build/fuzz
bin=.build/fuzz/json-fuzz
src=(Sources/CNI/JSONValue.swift Sources/CNI/JSONParser.swift Sources/CNI/JSONSerializer.swift Integration/Fuzz/JSONFuzz.swift)
if [ ! -x "$bin" ] || [ -n "$(find "${src[@]}" -newer "$bin" 2>/dev/null)" ]; then
  swiftc -sanitize=fuzzer,address -parse-as-library -module-name CNIFuzz -Onone "${src[@]}" -o "$bin"
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
log="$scratch/log"
set +e
SWIFT_BACKTRACE=enable=no "$bin" -max_total_time="$seconds" -timeout=2 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
  -artifact_prefix="$scratch/" "$scratch" Integration/Fuzz/corpus/json >"$log" 2>&1
rc=$?
set -e
runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
if [ "$rc" -ne 0 ]; then
  tail -40 "$log"
  for a in "$scratch"/crash-* "$scratch"/timeout-* "$scratch"/leak-*; do
    [ -e "$a" ] && { echo "== reproducer $a:"; od -c "$a" | head -20; }
  done
  echo "fuzz: ${runs} executions, 1 crash"
  exit 1
fi
echo "fuzz: ${runs} executions, 0 crashes"
