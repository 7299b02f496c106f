#!/usr/bin/env bash
# Boots the witness test VM and streams its serial console.
#
#   scripts/vm-run.sh KERNEL INITRAMFS LOG [KERNEL-ARGS...]
#
# The VM has 2 CPUs and 1 GiB. It uses TCG: KVM hangs on the machines this
# project is developed on; set WITNESS_ACCEL=kvm where it works. TCG runs
# single-threaded (both vCPUs interleaved on one host thread): multi-threaded
# TCG does not honour x86 cross-modifying-code rules, so a vCPU can execute
# a stale int3 after the kernel has finished patching a kprobe or ftrace site
# away, which oopses a correct kernel under a load/unload storm. The run is
# bounded by WITNESS_VM_TIMEOUT seconds (default 900). WITNESS_QEMU_ARGS adds
# arguments to QEMU's command line (the bench's counting plugin). Exits with
# QEMU's status, or 124 on timeout.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

[ $# -ge 3 ] || die "usage: $0 KERNEL INITRAMFS LOG [KERNEL-ARGS...]"
kernel="$1" initrd="$2" log="$3"
shift 3
accel="${WITNESS_ACCEL:-tcg,thread=single}"
timeout_s="${WITNESS_VM_TIMEOUT:-900}"

# shellcheck disable=SC2206
extra=(${WITNESS_QEMU_ARGS:-})

step "booting the VM (accel $accel, 2 CPUs, timeout ${timeout_s}s; console log: $log)"
set +e
timeout --foreground "$timeout_s" qemu-system-x86_64 \
    -accel "$accel" -cpu max -smp 2 -m 1G "${extra[@]}" \
    -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 panic=-1 loglevel=6 $*" \
    -display none -monitor none -serial stdio -no-reboot \
    < /dev/null 2>&1 | sed -u 's/\r//g' | tee "$log"
status=${PIPESTATUS[0]}
set -e
exit "$status"
