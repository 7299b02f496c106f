// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * witness-icount: a QEMU TCG plugin that counts the instructions each guest
 * vCPU executes between two marker instructions, for `make bench`.
 *
 * Under TCG the number of instructions an operation executes does not depend
 * on how fast the host is or what else it is doing, so a loop's count is
 * reproducible where its wall-clock time is not. The guest brackets a loop
 * with two multi-byte NOPs that nothing else emits:
 *
 *     start:  nopl 0x57540001(%rax)    0f 1f 80 01 00 54 57
 *     stop:   nopl 0x57540002(%rax)    0f 1f 80 02 00 54 57
 *
 * and at each stop the plugin writes one line,
 *
 *     WITNESS-ICOUNT seq=N vcpu=V insns=I kernel=K
 *
 * where I is the number of instructions vCPU V executed from the start
 * marker to the stop marker (user and kernel, interrupts included) and K
 * those of them in the kernel's half of the address space. N counts stop
 * markers from 0 over the run, so a reader can pair line N with the guest's
 * N-th loop.
 *
 * Counting: every translation block gets an execution callback that adds
 * its instruction count to its vCPU's counters, so they are exact at block
 * boundaries; a marker's own callback takes off the instructions of its
 * block that come after it. (A block cut short by an exception still counts
 * whole: a constant of the operation, not noise.)
 *
 * With profile=FILE, the plugin also writes, at each stop marker, where the
 * loop's instructions were executed: a line "WITNESS-PROFILE seq=N" and then
 * "ADDRESS INSTRUCTIONS" for each translation block that ran between the
 * markers (on any vCPU with an open loop), which scripts/icount-profile.py
 * turns into instructions per operation by function.
 *
 * Usage:  qemu-system-x86_64 -plugin witness-icount.so,out=FILE[,profile=FILE] ...
 * Without out=, lines go to QEMU's log (needs -d plugin).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu-plugin-api.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = WITNESS_QEMU_PLUGIN_VERSION;

enum { MARK_START = 1, MARK_STOP = 2 };

/* Counters of one vCPU, touched only by the thread running that vCPU. */
struct vcpu {
	uint64_t insns;
	uint64_t kernel;
	uint64_t start_insns;
	uint64_t start_kernel;
	int open;
} __attribute__((aligned(64)));

/* A translated block, when profiling: its address, size, and the
 * instructions it executed inside loops since the last stop marker. Blocks
 * are never freed (QEMU may run a translation until the end). */
struct block {
	uint64_t vaddr;
	uint64_t n;
	uint64_t kernel;
	uint64_t in_loops;
	struct block *next;
};

static struct vcpu *vcpus;
static unsigned int nr_vcpus;
static FILE *out;
static FILE *profile;
static struct block *blocks; /* pushed at translation, walked at stops */
static pthread_mutex_t profile_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t seq;
static uint64_t unpaired;

/* The first x86-64 kernel address (the canonical upper half). */
#define KERNEL_HALF 0xffff800000000000ULL

static void emit(const char *line)
{
	if (out) {
		fputs(line, out);
		fflush(out);
	} else {
		qemu_plugin_outs(line);
	}
}

static struct vcpu *vcpu(unsigned int index)
{
	return index < nr_vcpus ? &vcpus[index] : NULL;
}

/* The profiling variant of tb_exec: udata is the block. */
static void tb_exec_profiled(unsigned int index, void *udata)
{
	struct vcpu *v = vcpu(index);
	struct block *b = udata;

	if (!v)
		return;
	v->insns += b->n;
	v->kernel += b->kernel ? b->n : 0;
	if (v->open)
		__atomic_fetch_add(&b->in_loops, b->n, __ATOMIC_RELAXED);
}

/* Writes and clears the blocks' counts since the last stop. */
static void dump_profile(uint64_t n)
{
	pthread_mutex_lock(&profile_lock);
	fprintf(profile, "WITNESS-PROFILE seq=%" PRIu64 "\n", n);
	for (struct block *b = __atomic_load_n(&blocks, __ATOMIC_ACQUIRE); b; b = b->next) {
		uint64_t c = __atomic_exchange_n(&b->in_loops, 0, __ATOMIC_RELAXED);

		if (c)
			fprintf(profile, "%" PRIx64 " %" PRIu64 "\n", b->vaddr, c);
	}
	fflush(profile);
	pthread_mutex_unlock(&profile_lock);
}

/* udata: the block's instruction count << 1 | whether it is kernel code. */
static void tb_exec(unsigned int index, void *udata)
{
	struct vcpu *v = vcpu(index);
	uintptr_t u = (uintptr_t)udata;

	if (!v)
		return;
	v->insns += u >> 1;
	if (u & 1)
		v->kernel += u >> 1;
}

/* udata: the marker type << 32 | instructions of its block after it. */
static void marker_exec(unsigned int index, void *udata)
{
	struct vcpu *v = vcpu(index);
	uint64_t u = (uintptr_t)udata;
	uint64_t now = v ? v->insns - (u & 0xffffffff) : 0;
	uint64_t n;
	char line[160];

	if (!v)
		return;
	if ((u >> 32) == MARK_START) {
		v->start_insns = now;
		v->start_kernel = v->kernel;
		v->open = 1;
		return;
	}
	if (!v->open) {
		__atomic_fetch_add(&unpaired, 1, __ATOMIC_RELAXED);
		return;
	}
	v->open = 0;
	n = __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED);
	snprintf(line, sizeof(line), "WITNESS-ICOUNT seq=%" PRIu64 " vcpu=%u insns=%" PRIu64 " kernel=%" PRIu64 "\n",
		 n, index, now - v->start_insns, v->kernel - v->start_kernel);
	emit(line);
	if (profile)
		dump_profile(n);
}

static int marker_type(const struct qemu_plugin_insn *insn)
{
	static const unsigned char prefix[3] = { 0x0f, 0x1f, 0x80 };
	static const unsigned char suffix[3] = { 0x00, 0x54, 0x57 };
	const unsigned char *b;

	if (qemu_plugin_insn_size(insn) != 7)
		return 0;
	b = qemu_plugin_insn_data(insn);
	if (!b || memcmp(b, prefix, 3) || memcmp(b + 4, suffix, 3))
		return 0;
	return b[3] == MARK_START || b[3] == MARK_STOP ? b[3] : 0;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb);
	uintptr_t kernel = qemu_plugin_tb_vaddr(tb) >= KERNEL_HALF;

	(void)id;
	if (profile) {
		struct block *b = calloc(1, sizeof(*b));

		if (!b)
			abort();
		b->vaddr = qemu_plugin_tb_vaddr(tb);
		b->n = n;
		b->kernel = kernel;
		b->next = __atomic_load_n(&blocks, __ATOMIC_RELAXED);
		while (!__atomic_compare_exchange_n(&blocks, &b->next, b, true, __ATOMIC_RELEASE,
						    __ATOMIC_RELAXED))
			;
		qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec_profiled, QEMU_PLUGIN_CB_NO_REGS, b);
	} else {
		qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS,
						     (void *)(((uintptr_t)n << 1) | kernel));
	}
	if (kernel)
		return; /* markers are user-space code */
	for (size_t i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		uint64_t type = marker_type(insn);

		if (type)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, marker_exec, QEMU_PLUGIN_CB_NO_REGS,
							       (void *)(uintptr_t)(type << 32 | (n - 1 - i)));
	}
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
	char line[120];

	(void)id;
	(void)udata;
	snprintf(line, sizeof(line), "WITNESS-ICOUNT-END loops=%" PRIu64 " unpaired=%" PRIu64 "\n", seq,
		 unpaired);
	emit(line);
	if (out)
		fclose(out);
	if (profile)
		fclose(profile);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
					   char **argv)
{
	const char *path = NULL, *profile_path = NULL;

	for (int i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "out=", 4)) {
			path = argv[i] + 4;
		} else if (!strncmp(argv[i], "profile=", 8)) {
			profile_path = argv[i] + 8;
		} else {
			fprintf(stderr, "witness-icount: unknown argument '%s' (it takes out=FILE, profile=FILE)\n",
				argv[i]);
			return -1;
		}
	}
	if (info->version.cur > 2) {
		fprintf(stderr,
			"witness-icount: QEMU's plugin API is version %d; this plugin is written against "
			"version 1 (QEMU 7.x, 8.x), and version 3 changed qemu_plugin_insn_data()\n",
			info->version.cur);
		return -1;
	}
	if (strcmp(info->target_name, "x86_64") || !info->system_emulation) {
		fprintf(stderr, "witness-icount: needs x86_64 system emulation (this is %s%s)\n",
			info->target_name, info->system_emulation ? "" : ", user mode");
		return -1;
	}
	nr_vcpus = info->system.max_vcpus > 0 ? (unsigned int)info->system.max_vcpus : 1;
	vcpus = aligned_alloc(64, sizeof(*vcpus) * nr_vcpus);
	if (!vcpus)
		return -1;
	memset(vcpus, 0, sizeof(*vcpus) * nr_vcpus);
	if (path) {
		out = fopen(path, "w");
		if (!out) {
			fprintf(stderr, "witness-icount: cannot write %s: %s\n", path, strerror(errno));
			return -1;
		}
	}
	if (profile_path) {
		profile = fopen(profile_path, "w");
		if (!profile) {
			fprintf(stderr, "witness-icount: cannot write %s: %s\n", profile_path, strerror(errno));
			return -1;
		}
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
