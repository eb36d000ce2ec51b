#!/usr/bin/env bash
# Benchmarks swift-cni against Debian's Go reference plugins (/usr/lib/cni), as root:
#   bash Integration/Benchmarks/run.sh [--runs N]
# Builds the release (static, stripped) plugins and the runner, then measures start-up, host-local
# ADD+DEL and macvlan+host-local ADD/DEL, alternating ours and the reference run by run; prints a
# table of medians (p90), ratios and targets, and writes JSON to .build/benchmarks/<time>.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
source Integration/setup.sh

build_release swift-cni swift-cni-full cni-bench
link_plugins .build/release
mkdir -p .build/benchmarks
out=".build/benchmarks/$(date -u +%Y%m%dT%H%M%SZ).json"
.build/release/cni-bench .build/release --output "$out" "$@"
