#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test — unit
# tests (no root) and the root + network-namespace integration tests in Integration/Tests.
# Run as root; under CI=true the root-only tests fail instead of being skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source Integration/setup.sh

swift build --build-tests

# The deliverables (static release builds): the .deb and the node image, which PackagingTests
# install and run. SWCNI_PACKAGES=0 skips them (local iteration only).
if [ "${SWCNI_PACKAGES:-1}" = 1 ]; then
  echo "== packages (Integration/package.sh deb, image)"
  bash Integration/package.sh deb
  bash Integration/package.sh image
fi

# Coverage-guided fuzzing of the hand-written JSON parser/serializer against Foundation, of the
# DHCP decoder, the kubeconfig reader and the config decoders, bounded
# (SWCNI_FUZZ_SECONDS, default 60); any crash or disagreement fails the run.
echo "== fuzzing the JSON parser, the DHCP decoder, the kubeconfig reader, the configs (Integration/Fuzz/run.sh)"
bash Integration/Fuzz/run.sh "${SWCNI_FUZZ_SECONDS:-60}"

# Tests that need kernel features this machine's kernel lacks (dummy, 802.1Q, ipvlan, bridge VLAN
# filtering) run on Debian's own kernel in a qemu guest, one boot for all of them.
if [ "${SWCNI_GUEST:-1}" = 1 ]; then   # SWCNI_GUEST=0 skips the guest pass (local iteration only)
  echo "== tests in the kernel-lab guest (Integration/KernelLab/run-in-guest.sh)"
  bash Integration/KernelLab/run-in-guest.sh .build/debug/swift-cniPackageTests.xctest \
    --testing-library swift-testing --filter "GuestKernelTests|IpvlanGuestTests|BridgeNetlinkGuestTests|BridgeVLANGuestTests|BridgeTests|DelMatrixGuestTests|MultusGuestTests"
fi

# Everything else on this machine's kernel (the guest suites report themselves skipped here).
# Parallel workers share 2 cores with the kernel work of the namespace tests; that is fine.
echo "== tests on this machine's kernel"
swift test --skip-build --disable-xctest "$@"
