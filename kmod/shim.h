/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C shim's interface. shim.rs declares the same functions for Rust; the
 * witness_rs_* functions are implemented in Rust (device.rs).
 */
#ifndef WITNESS_SHIM_H
#define WITNESS_SHIM_H

#include <linux/compiler_types.h>
#include <linux/types.h>

struct linux_binprm;
struct task_struct;

/* Mirrored by `TaskIds` in shim.rs. */
struct witness_task_ids {
	u32 pid;
	u32 tgid;
	u32 ppid;
	u32 uid;
	u32 euid;
	u32 gid;
	u32 egid;
	u32 reserved;
	u64 cgroup_id;
	char comm[16];
};

/* Rust entry points (device.rs). */
long witness_rs_read(void *ctx, char __user *buf, size_t len);
bool witness_rs_readable(void *ctx);
long witness_rs_ioctl(void *ctx, unsigned int cmd, unsigned long arg);

unsigned int witness_shim_ring_size_kib(void);

int witness_shim_device_register(void *ctx);
void witness_shim_device_unregister(void);
void witness_shim_wake_readers(void);
int witness_shim_read_lock(void);
void witness_shim_read_unlock(void);

void *witness_shim_ring_alloc(size_t size);
void witness_shim_ring_free(void *area);

unsigned int witness_shim_nr_cpu_ids(void);
bool witness_shim_cpu_possible(unsigned int cpu);
unsigned int witness_shim_this_cpu(void);
u64 witness_shim_boot_ns(void);

int witness_shim_tracepoint_attach(const char *name, void *probe, void *data);
int witness_shim_tracepoint_detach(const char *name, void *probe, void *data);
void witness_shim_tracepoint_sync(void);

void witness_shim_task_ids(struct task_struct *task, struct witness_task_ids *out);
size_t witness_shim_exec_path(const struct linux_binprm *bprm, char *buf, size_t buflen, u32 *flags);

#endif /* WITNESS_SHIM_H */
