#!/usr/bin/env bash
# run-in-guest.sh COMMAND [ARG...]
#
# Runs COMMAND as root on Debian's own kernel (linux-image-amd64), which has what the project
# machines' kernel lacks (ipvlan, 802.1Q, dummy, bridge VLAN filtering). qemu boots that kernel
# with a busybox initramfs; the host's / is shared read-only and this repository read-write (at
# the same path); COMMAND runs chrooted into the host's root, in the repository, against the
# guest's kernel — so host binaries and the test bundle run unchanged. Exits with COMMAND's
# status (2: the lab itself failed, 124: timeout). Output comes on the serial console.
#
# SWCNI_KL_CACHE (default /var/cache/swift-cni-kernel-lab), SWCNI_KL_TIMEOUT (s, default 1200),
# SWCNI_KL_MEM (MiB, default 2048), SWCNI_KL_VERBOSE=1 (kernel messages).
# The project machines' /dev/kvm is a PVM layer that cannot boot a stock kernel: TCG emulation.
set -euo pipefail

fail() { echo "run-in-guest: $*" >&2; exit 2; }
[ $# -ge 1 ] || fail "usage: $0 COMMAND [ARG...]"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${SWCNI_KL_CACHE:-/var/cache/swift-cni-kernel-lab}
mkdir -p "$CACHE"
exec 8>"$CACHE/.lock"
flock 8   # one set-up at a time

# Packages: qemu, a static busybox, cpio.
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || missing+=(busybox-static)
command -v cpio >/dev/null || missing+=(cpio)
if [ ${#missing[@]} -gt 0 ]; then
  echo "run-in-guest: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$CACHE/apt.log" 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$CACHE/apt.log" 2>&1; } ||
    { tail -20 "$CACHE/apt.log" >&2; fail "could not install ${missing[*]}"; }
fi

# The kernel: whatever linux-image-amd64 points at, unpacked (not installed) into the cache.
if [ ! -f "$CACHE/kernel-package" ]; then
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -n1 || true)
  [ -n "$pkg" ] || { apt-get update -qq; pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -n1); }
  [ -n "$pkg" ] || fail "cannot resolve linux-image-amd64"
  echo "$pkg" > "$CACHE/kernel-package"
fi
PKG=$(cat "$CACHE/kernel-package")
KVER=${PKG#linux-image-}
KDIR=$CACHE/$KVER
if [ ! -f "$KDIR/.done" ]; then
  echo "run-in-guest: fetching $PKG" >&2
  rm -rf "$KDIR" "$CACHE/dl" && mkdir -p "$KDIR" "$CACHE/dl" && chmod 777 "$CACHE/dl"
  (cd "$CACHE/dl" && apt-get download -qq "$PKG" >/dev/null 2>&1) ||
    { apt-get update -qq; (cd "$CACHE/dl" && apt-get download -qq "$PKG"); }
  dpkg-deb --fsys-tarfile "$CACHE"/dl/*.deb | tar -x -C "$KDIR" "./boot/vmlinuz-$KVER" "./lib/modules/$KVER"
  rm -rf "$CACHE/dl"
  touch "$KDIR/.done"
fi
MODDIR=$KDIR/lib/modules/$KVER

# The initramfs: busybox, the modules we need with their dependencies, and /init. Rebuilt when
# this script or the module list changes.
# crc32c_generic first: busybox modprobe ignores soft dependencies (libcrc32c needs it).
MODULES="crc32c_generic virtio_pci 9p 9pnet_virtio veth macvlan ipvlan 8021q dummy bridge br_netfilter vrf
  nf_tables nft_chain_nat nft_nat nft_masq nft_redir nft_ct nft_compat nf_conntrack nf_nat nft_meta_bridge
  xt_comment xt_MASQUERADE xt_nat"
KEY=$( { echo "$KVER $MODULES"; sha256sum "$0" /bin/busybox; } | sha256sum | cut -c1-16)
INITRD=$CACHE/initramfs-$KEY.cpio.gz
if [ ! -f "$INITRD" ]; then
  echo "run-in-guest: building the initramfs" >&2
  ROOT=$(mktemp -d "$CACHE/root.XXXXXX")
  mkdir -p "$ROOT"/{bin,sbin,proc,sys,dev,run,tmp,host,repo,etc,lib/modules/$KVER}
  cp /bin/busybox "$ROOT/bin/busybox"
  for applet in sh mount umount mkdir modprobe insmod chroot poweroff cat sleep echo ln sync; do
    ln -s busybox "$ROOT/bin/$applet"
  done
  # Module closure through each module's "depends=" (.modinfo); built-ins need nothing.
  declare -A path=() done=()
  while IFS= read -r f; do b=${f##*/}; b=${b%.ko}; path[${b//-/_}]=$f; done < <(find "$MODDIR/kernel" -name '*.ko')
  queue=($MODULES)
  while [ ${#queue[@]} -gt 0 ]; do
    m=${queue[0]//-/_}; queue=("${queue[@]:1}")
    [ -z "${done[$m]:-}" ] || continue
    done[$m]=1
    f=${path[$m]:-}
    [ -n "$f" ] || continue   # built in
    rel=${f#"$MODDIR/"}
    mkdir -p "$ROOT/lib/modules/$KVER/$(dirname "$rel")"
    cp "$f" "$ROOT/lib/modules/$KVER/$rel"
    for d in $(tr '\0' '\n' < "$f" | sed -n 's/^depends=//p' | tr ',' ' '); do queue+=("$d"); done
  done
  cp "$MODDIR/modules.builtin" "$MODDIR/modules.order" "$ROOT/lib/modules/$KVER/" 2>/dev/null || true
  /bin/busybox depmod -b "$ROOT" "$KVER"
  echo "$MODULES" > "$ROOT/etc/modules"
  cat > "$ROOT/init" <<'INIT'
#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp
. /etc/run.env
[ "$SWCNI_KL_VERBOSE" = 1 ] || echo 1 > /proc/sys/kernel/printk
modprobe -a $(cat /etc/modules) || echo "run-in-guest: some modules did not load" >&2
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,access=any,cache=loose,ro hostroot /host
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,access=any,cache=mmap repo /repo
for d in proc sys dev run tmp; do mount --bind /$d /host/$d; done
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /host/dev/pts; mount -t tmpfs tmpfs /host/dev/shm
# The repository may live under /tmp (now the guest's tmpfs): make its mount point there.
mkdir -p "/host$SWCNI_REPO" 2>/dev/null
mount --bind /repo "/host$SWCNI_REPO"
mkdir -p /run/netns
chroot /host /bin/sh -c 'cd "$SWCNI_REPO" && exec /bin/sh "$SWCNI_CMDFILE"' 2>&1 < /dev/null
echo "run-in-guest: exit $? $SWCNI_NONCE"
sync
poweroff -f
INIT
  chmod +x "$ROOT/init"
  (cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -1) > "$INITRD.tmp"
  size=$(stat -c %s "$INITRD.tmp"); truncate -s $(( (size + 3) / 4 * 4 )) "$INITRD.tmp"   # a cpio appended later must start aligned
  mv "$INITRD.tmp" "$INITRD"
  rm -rf "$ROOT"
fi
flock -u 8

# Per run: the environment, appended to the initramfs as a second cpio archive, and the command
# as a script in the repository share (bound into the chroot at the same path).
RUN=$(mktemp -d /tmp/swcni-kl.XXXXXX)
mkdir -p "$REPO/.build"
CMDFILE=$(mktemp "$REPO/.build/kernel-lab-command.XXXXXX")
trap 'rm -rf "$RUN" "$CMDFILE"' EXIT
NONCE=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
mkdir -p "$RUN/root/etc"
{ echo "SWCNI_NONCE=$NONCE"; echo "SWCNI_REPO='$REPO'"; echo "SWCNI_CMDFILE='$CMDFILE'"
  echo "SWCNI_KL_VERBOSE='${SWCNI_KL_VERBOSE:-}'"; echo "export SWCNI_REPO SWCNI_CMDFILE"; } > "$RUN/root/etc/run.env"
{ echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/swift/usr/bin HOME=/root'
  printf 'export CI=%q SWCNI_IN_GUEST=1\n' "${CI:-}"; printf '%q ' "$@"; echo; } > "$CMDFILE"
(cd "$RUN/root" && find . | cpio -o -H newc --quiet) > "$RUN/extra.cpio"
cat "$INITRD" "$RUN/extra.cpio" > "$RUN/initrd"

ACCEL=(-accel tcg,thread=multi -cpu max)
if [ ! -d /sys/module/kvm_pvm ] && [ -w /dev/kvm ]; then ACCEL=(-accel kvm -cpu host); fi
set +e
timeout --foreground -k 10 "${SWCNI_KL_TIMEOUT:-1200}" qemu-system-x86_64 -M q35 "${ACCEL[@]}" -m "${SWCNI_KL_MEM:-2048}" -smp 2 \
  -nodefaults -no-user-config -display none -serial stdio -monitor none -no-reboot \
  -kernel "$KDIR/boot/vmlinuz-$KVER" -initrd "$RUN/initrd" \
  -append "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=1 net.ifnames=0 mitigations=off" \
  -device virtio-rng-pci \
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
  -virtfs "local,path=$REPO,mount_tag=repo,security_model=none,multidevs=remap" \
  </dev/null 2>"$RUN/qemu.err" | tr -d '\r' | tee "$RUN/console" | grep --line-buffered -v -e "run-in-guest: exit [0-9]* $NONCE" -e "reboot: Power down"
qemu_status=${PIPESTATUS[0]}
set -e
status=$(sed -n "s/^run-in-guest: exit \([0-9]*\) $NONCE\$/\1/p" "$RUN/console" | tail -n1)
if [ -z "$status" ]; then
  cat "$RUN/qemu.err" >&2
  [ "$qemu_status" = 124 ] && { echo "run-in-guest: timed out" >&2; exit 124; }
  fail "the guest reported no exit status (qemu: $qemu_status)"
fi
exit "$status"
