#!/bin/busybox sh
# /init of the kernel conformance guest (tests/kernel/run.sh fills in @DEPTH@).
# Loads the real uacce core and the mock parent, runs the conformance program,
# prints exactly one "UACCE-CONFORMANCE:" line and powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp

result() {
    echo "UACCE-CONFORMANCE: $*"
    sync
    poweroff -f
}

echo "guest: kernel $(uname -r)"
insmod /uacce.ko || result "FAIL insmod uacce.ko"
insmod /mock_hisi_qm.ko depth=@DEPTH@ queues=2 || result "FAIL insmod mock_hisi_qm.ko"
ls /sys/class/uacce

# The program removes the parent itself (for the device-removal check) with
# these commands, while it holds queues open, and loads it again afterwards.
/uacce-conformance --depth @DEPTH@ --queues 2 --summary /tmp/summary \
    --remove-parent "rmmod mock_hisi_qm" \
    --restore-parent "insmod /mock_hisi_qm.ko depth=@DEPTH@ queues=2" \
    --reset-param /sys/module/mock_hisi_qm/parameters/reset
rc=$?
summary=$(cat /tmp/summary 2>/dev/null)
if [ "$rc" -eq 0 ] && [ -n "$summary" ]; then
    result "PASS $summary"
else
    result "FAIL ${summary:-no summary} (program exit $rc)"
fi
