#!/usr/bin/env bash
# Kernel conformance suite of uacce-rs: the SDK's kernel backend against the
# real uacce core (drivers/misc/uacce/uacce.c from Debian's kernel source,
# built unchanged) and our mock HiSilicon QM parent driver, in a QEMU guest
# running Debian's own kernel.
#
#   tests/kernel/run.sh            # one command; needs root (or sudo) for apt
#
# Environment:
#   UACCE_KCONF_WORK   work/cache dir (default <repo>/target/kernel-conformance)
#   UACCE_KCONF_ACCEL  force a QEMU accelerator: "tcg" or "kvm" (default: KVM
#                      when /dev/kvm is usable and the host is not itself a
#                      virtual machine, else TCG)
#   UACCE_KCONF_TIMEOUT  outer timeout of the guest in seconds (default 180)
#   UACCE_KCONF_DEPTH  ring depth of the mock device (default 1024, as QM v2)
#
# Prints the guest log and exits non-zero unless the guest reports
# "UACCE-CONFORMANCE: PASS".
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$REPO/tests/kernel"
WORK=${UACCE_KCONF_WORK:-$REPO/target/kernel-conformance}
TIMEOUT=${UACCE_KCONF_TIMEOUT:-180}
DEPTH=${UACCE_KCONF_DEPTH:-1024}
TARGET=x86_64-unknown-linux-gnu
T0=$(date +%s.%N)

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
log() { printf '[kernel-conformance %6ss] %s\n' "$(elapsed "$T0")" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "needs root or sudo for apt-get"
    SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive

mkdir -p "$WORK"

# --- 1. Host packages -------------------------------------------------------
APT_UPDATED=0
apt_update_once() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        "${SUDO[@]}" apt-get update -qq
        APT_UPDATED=1
    fi
}
# Installs the given packages (optionally pkg=version) unless already present
# at that version.
apt_ensure() {
    local missing=() spec name want have
    for spec in "$@"; do
        name=${spec%%=*}
        want=""
        [ "$spec" != "$name" ] && want=${spec#*=}
        have=$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}' "$name" 2>/dev/null || true)
        if [ "${have%%|*}" != "ii " ] || { [ -n "$want" ] && [ "${have#*|}" != "$want" ]; }; then
            missing+=("$spec")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_update_once
        log "apt-get install ${missing[*]}"
        "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# Stale package lists name kernel versions the mirror no longer has.
if ! find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | grep -q .; then
    apt_update_once
fi
apt_ensure qemu-system-x86 busybox-static cpio gzip gcc make kmod libc6-dev binutils xz-utils

# --- 2. One kernel ABI whose image, headers and source versions match --------
# The linux-image-amd64 metapackage names the current ABI; superseded ABIs
# vanish from mirrors, so this is worked out at run time.
resolve_kernel() {
    local meta_ver
    meta_ver=$(apt-cache policy linux-image-amd64 | awk '/Candidate:/ { print $2 }')
    if [ -z "$meta_ver" ] || [ "$meta_ver" = "(none)" ]; then
        return 1
    fi
    ABI_PKG=$(apt-cache depends "linux-image-amd64=$meta_ver" |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
    [ -n "$ABI_PKG" ] || return 1
    ABI=${ABI_PKG#linux-image-}
    KVER=$(apt-cache policy "$ABI_PKG" | awk '/Candidate:/ { print $2 }')
    SERIES=$(printf '%s' "$ABI" | cut -d. -f1,2)
    local p
    for p in "linux-image-$ABI-unsigned" "linux-headers-$ABI" "linux-source-$SERIES"; do
        if ! apt-cache madison "$p" | awk -v v="$KVER" '$3 == v { found = 1 } END { exit !found }'; then
            log "$p $KVER is not available"
            return 1
        fi
    done
}
if ! resolve_kernel; then
    apt_update_once
    resolve_kernel || die "cannot find one kernel ABI with matching image, headers and source"
fi
log "kernel ABI $ABI, version $KVER (linux-source-$SERIES)"
KDIR_WORK="$WORK/$ABI-$KVER"
mkdir -p "$KDIR_WORK/debs"

apt_ensure "linux-headers-$ABI=$KVER"
KBUILD_DIR="/usr/src/linux-headers-$ABI"
[ -d "$KBUILD_DIR" ] || die "$KBUILD_DIR missing after installing linux-headers-$ABI"

# The image and source packages are only unpacked into the cache: the guest
# boots the image's vmlinuz directly, and only uacce.c is taken from the
# source tarball. Neither is installed on the host.
fetch_deb() {
    local pkg=$1 arch=$2 deb
    deb="$KDIR_WORK/debs/${pkg}_${KVER//:/%3a}_${arch}.deb"
    if [ ! -s "$deb" ]; then
        (cd "$KDIR_WORK/debs" && apt-get download -qq "$pkg=$KVER" 2>/dev/null) ||
            { apt_update_once; (cd "$KDIR_WORK/debs" && apt-get download -qq "$pkg=$KVER"); }
    fi
    [ -s "$deb" ] || die "download of $pkg=$KVER failed"
    printf '%s' "$deb"
}
VMLINUZ="$KDIR_WORK/vmlinuz"
if [ ! -s "$VMLINUZ" ]; then
    deb=$(fetch_deb "linux-image-$ABI-unsigned" amd64)
    log "extracting vmlinuz-$ABI"
    dpkg-deb --fsys-tarfile "$deb" | tar -xO "./boot/vmlinuz-$ABI" >"$VMLINUZ.tmp"
    mv "$VMLINUZ.tmp" "$VMLINUZ"
    rm -f "$deb"
fi
UACCE_C="$KDIR_WORK/uacce.c"
if [ ! -s "$UACCE_C" ]; then
    deb=$(fetch_deb "linux-source-$SERIES" all)
    log "extracting drivers/misc/uacce/uacce.c from linux-source-$SERIES"
    dpkg-deb --fsys-tarfile "$deb" |
        tar -xO "./usr/src/linux-source-$SERIES.tar.xz" |
        tar -xJO "linux-source-$SERIES/drivers/misc/uacce/uacce.c" >"$UACCE_C.tmp"
    [ -s "$UACCE_C.tmp" ] || die "uacce.c not found in linux-source-$SERIES"
    mv "$UACCE_C.tmp" "$UACCE_C"
    rm -f "$deb"
fi

# --- 3. Modules: uacce.ko unchanged + our mock parent ------------------------
MOD_DIR="$KDIR_WORK/modules"
mkdir -p "$MOD_DIR"
sync_file() { cmp -s "$1" "$2" || cp "$1" "$2"; }
sync_file "$UACCE_C" "$MOD_DIR/uacce.c"
sync_file "$HERE/mock_hisi_qm.c" "$MOD_DIR/mock_hisi_qm.c"
# Debian builds with CONFIG_UACCE unset, so <linux/uacce.h> would give stubs;
# defining the module symbol makes IS_ENABLED(CONFIG_UACCE) true for both.
printf '%s\n' 'obj-m := uacce.o mock_hisi_qm.o' \
    'ccflags-y := -DCONFIG_UACCE_MODULE=1 -Werror' >"$MOD_DIR/Kbuild.new"
sync_file "$MOD_DIR/Kbuild.new" "$MOD_DIR/Kbuild"
log "building uacce.ko and mock_hisi_qm.ko against $KBUILD_DIR"
make -s -C "$KBUILD_DIR" M="$MOD_DIR" -j"$(nproc)" modules >"$MOD_DIR/build.log" 2>&1 ||
    { cat "$MOD_DIR/build.log" >&2; die "module build failed"; }
grep -E 'warning|error' "$MOD_DIR/build.log" >&2 || true

# --- 4. The conformance program, static --------------------------------------
log "building uacce-conformance (static, $TARGET)"
# --target keeps RUSTFLAGS away from host build scripts and proc macros.
(cd "$REPO" && RUSTFLAGS="-C target-feature=+crt-static" cargo build -q \
    --target "$TARGET" --target-dir "$WORK/cargo" \
    -p uacce-tests --bin uacce-conformance)
PROG="$WORK/cargo/$TARGET/debug/uacce-conformance"
# The guest has no dynamic loader: the program must be static.
if ! readelf -h "$PROG" >/dev/null 2>&1 || readelf -l "$PROG" | grep -q 'program interpreter'; then
    die "$PROG is not a static ELF executable"
fi

# --- 5. initramfs --------------------------------------------------------------
ROOTFS="$KDIR_WORK/rootfs"
rm -rf "$ROOTFS"
mkdir -p "$ROOTFS"/{bin,dev,proc,sys,tmp}
cp /bin/busybox "$ROOTFS/bin/busybox"
cp "$MOD_DIR/uacce.ko" "$MOD_DIR/mock_hisi_qm.ko" "$PROG" "$ROOTFS/"
sed -e "s/@DEPTH@/$DEPTH/g" "$HERE/init.sh" >"$ROOTFS/init"
chmod 755 "$ROOTFS/init"
INITRD="$KDIR_WORK/initramfs.cpio.gz"
(cd "$ROOTFS" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$INITRD"

# --- 6. Boot -------------------------------------------------------------------
ACCEL=${UACCE_KCONF_ACCEL:-}
if [ -z "$ACCEL" ]; then
    # KVM when /dev/kvm is usable and this machine is not itself a guest:
    # nested KVM on CI VMs is often broken (here it hung in early boot).
    if [ -r /dev/kvm ] && [ -w /dev/kvm ] && ! grep -qw hypervisor /proc/cpuinfo; then
        ACCEL=kvm
    else
        ACCEL=tcg
    fi
fi
case "$ACCEL" in
kvm) ACCEL_ARGS=(-accel kvm -accel tcg) ;;
tcg) ACCEL_ARGS=(-accel tcg) ;;
*) die "UACCE_KCONF_ACCEL must be kvm or tcg" ;;
esac
GUEST_LOG="$KDIR_WORK/guest.log"
log "booting $ABI under QEMU ($ACCEL), timeout ${TIMEOUT}s; prepared in $(elapsed "$T0") s"
T1=$(date +%s.%N)
set +e
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 "${ACCEL_ARGS[@]}" \
    -m 512 -smp 2 -nographic -no-reboot -net none \
    -kernel "$VMLINUZ" -initrd "$INITRD" \
    -append "console=ttyS0 panic=-1 oops=panic panic_on_warn=1 slub_debug=FZP loglevel=5 rdinit=/init" \
    </dev/null >"$GUEST_LOG" 2>&1
QEMU_RC=$?
set -e
BOOT_TIME=$(elapsed "$T1")

echo "===================== guest log ($GUEST_LOG) ====================="
# Without the firmware's terminal escape sequences.
tr -d '\r' <"$GUEST_LOG" | sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g'
echo "=================================================================="
RESULT=$(tr -d '\r' <"$GUEST_LOG" | grep -a '^UACCE-CONFORMANCE: ' | tail -n1 || true)
log "guest boot+test: ${BOOT_TIME} s; total: $(elapsed "$T0") s; qemu exit $QEMU_RC"
if [ "$QEMU_RC" -eq 124 ] || [ "$QEMU_RC" -eq 137 ]; then
    die "guest timed out after ${TIMEOUT}s"
fi
# slub_debug reports heap corruption without oopsing; any kernel BUG report
# or stack trace fails the run even if the program passed.
if tr -d '\r' <"$GUEST_LOG" | grep -aE '^\[ *[0-9.]+\] (BUG|WARNING|INFO: |Call Trace)' >&2; then
    die "the guest kernel reported a bug (see above); result was: ${RESULT:-none}"
fi
case "$RESULT" in
"UACCE-CONFORMANCE: PASS"*) log "$RESULT"; exit 0 ;;
"") die "no result line from the guest (qemu exit $QEMU_RC)" ;;
*) die "$RESULT" ;;
esac
