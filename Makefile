# witness: the two commands a new user needs are `make demo` and `make test`.
# Both provision the machine (Debian packages, chroots of the distributions
# whose kernels the VM boots) and build what they need; chroots, kernels and
# their build trees are cached in ~/.cache/witness.

.PHONY: demo test test-debug bench soak fuzz build kernel-debug module collector packages vm-shell clean help

help:
	@echo "make demo          build everything and show exec events from the VM"
	@echo "make test          host unit tests + VM scenarios on Debian's stock kernels; ends with 'N passed, N failed'"
	@echo "make test-debug    the same on the KASAN/lockdep/kmemleak/kCFI kernel (7.x, full preemption)"
	@echo "make soak          30 minutes of every hook family under collector kills and module reloads (not in CI)"
	@echo "make bench         ring, pipeline, in-kernel overhead and loss-free rate; one table"
	@echo "make fuzz          fuzz the decoder, capture reader, inventory and policy parsers (bounded time)"
	@echo "make build         provision and build kernel, module, collector, initramfs for each stock kernel"
	@echo "make kernel-debug  build (or reuse) the KASAN/lockdep/kmemleak kernel"
	@echo "make module        build kmod/witness.ko for your own kernel (KDIR=..., default the running one)"
	@echo "make collector     build the collector (target/release/witness)"
	@echo "make packages      build the Debian packages witness and witness-dkms (target/witness/deb)"
	@echo "make vm-shell      boot the VM with an interactive shell"

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

test-debug:
	WITNESS_KERNELS=debug bash scripts/test.sh

bench:
	bash scripts/bench.sh

soak:
	bash scripts/soak.sh

fuzz:
	bash scripts/fuzz.sh

build:
	for k in $$(awk '!/^#/ && NF { print $$1 }' scripts/kernel/stock.list); do bash scripts/build-all.sh $$k || exit 1; done

kernel-debug:
	bash scripts/provision.sh && bash scripts/build-kernel.sh

module:
	KDIR=$${KDIR:-/lib/modules/$$(uname -r)/build} bash scripts/build-module.sh

collector:
	cargo build --release --locked -p witness

packages:
	bash scripts/build-packages.sh

vm-shell:
	k=$${WITNESS_KERNEL:-debian13-backports}; bash scripts/build-all.sh $$k && \
	qemu-system-x86_64 -accel $${WITNESS_ACCEL:-tcg,thread=single} -cpu max -smp 2 -m 1G \
	    -kernel target/witness/$$k/bzImage -initrd target/witness/$$k/initramfs.cpio.gz \
	    -append "console=ttyS0 panic=-1 witness.mode=shell" -nographic -no-reboot

clean:
	cargo clean
	rm -f kmod/*.o kmod/*.ko kmod/*.mod kmod/*.mod.c kmod/.*.cmd kmod/*.d \
	    kmod/modules.order Module.symvers modules.order .*.cmd .module-common.o
