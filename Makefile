# witness: the two commands a new user needs are `make demo` and `make test`.
# Both provision the machine (Debian packages, bindgen-cli) and build what
# they need; the test kernel is cached in ~/.cache/witness.

.PHONY: demo test test-debug bench fuzz build kernel kernel-debug module collector vm-shell clean help

help:
	@echo "make demo          build everything and show exec events from the VM"
	@echo "make test          host unit tests + VM scenarios; ends with 'N passed, N failed'"
	@echo "make test-debug    the same on the KASAN/lockdep/kmemleak kernel"
	@echo "make bench         ring, pipeline, in-kernel overhead and loss-free rate; one table"
	@echo "make fuzz          fuzz the decoder, capture reader, inventory and policy parsers (bounded time)"
	@echo "make build         provision and build kernel, module, collector, initramfs"
	@echo "make kernel        build (or reuse) the plain test kernel"
	@echo "make kernel-debug  build (or reuse) the KASAN/lockdep/kmemleak kernel"
	@echo "make module        build kmod/witness.ko (KDIR=... for your own kernel)"
	@echo "make collector     build the collector (target/release/witness)"
	@echo "make vm-shell      boot the VM with an interactive shell"

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

test-debug:
	WITNESS_FLAVOUR=debug bash scripts/test.sh

bench:
	bash scripts/bench.sh

fuzz:
	bash scripts/fuzz.sh

build:
	bash scripts/build-all.sh

kernel:
	bash scripts/provision.sh && bash scripts/build-kernel.sh plain

kernel-debug:
	bash scripts/provision.sh && bash scripts/build-kernel.sh debug

module:
	bash scripts/build-module.sh

collector:
	cargo build --release --locked -p witness

vm-shell: build
	qemu-system-x86_64 -accel $${WITNESS_ACCEL:-tcg,thread=single} -cpu max -smp 2 -m 1G \
	    -kernel target/witness/plain/bzImage -initrd target/witness/plain/initramfs.cpio.gz \
	    -append "console=ttyS0 panic=-1 witness.mode=shell" -nographic -no-reboot

clean:
	cargo clean
	rm -f kmod/*.o kmod/*.ko kmod/*.mod kmod/*.mod.c kmod/.*.cmd kmod/*.d \
	    kmod/modules.order Module.symvers modules.order .*.cmd .module-common.o
