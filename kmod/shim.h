/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C shim's interface. shim.rs declares the same functions for Rust; the
 * witness_rs_* functions are implemented in Rust (device.rs).
 */
#ifndef WITNESS_SHIM_H
#define WITNESS_SHIM_H

#include <linux/compiler_types.h>
#include <linux/kprobes.h>
#include <linux/types.h>

struct cred;
struct dentry;
struct file;
struct linux_binprm;
struct module;
struct nsproxy;
struct sock;
struct sockaddr;
struct socket;
struct task_struct;
struct vm_area_struct;
struct witness_cred_change;
struct witness_net_addr;

/* shared-abi's TaskContext (record.rs); asserted in shim.c. */
struct witness_task_context {
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
int witness_rs_mmap(void *ctx, struct vm_area_struct *vma, unsigned long pgoff, unsigned long len,
		    bool write, bool shared);

unsigned int witness_shim_ring_size_kib(void);

int witness_shim_device_register(void *ctx);
void witness_shim_device_unregister(void);
void witness_shim_wake_readers(void);
int witness_shim_read_lock(void);
void witness_shim_read_unlock(void);
int witness_shim_control_lock(void);
void witness_shim_control_unlock(void);
bool witness_shim_capable_admin(void);

void *witness_shim_ring_alloc(size_t size);
void witness_shim_ring_free(void *area);
int witness_shim_mmap_area(struct vm_area_struct *vma, void *area, unsigned long pgoff, bool writable);

unsigned int witness_shim_nr_cpu_ids(void);
bool witness_shim_cpu_possible(unsigned int cpu);
unsigned int witness_shim_this_cpu(void);
void witness_shim_preempt_disable(void);
void witness_shim_preempt_enable(void);
u64 witness_shim_boot_ns(void);
u64 witness_shim_clock_ns(void);

int witness_shim_tracepoint_attach(const char *name, void *probe, void *data);
int witness_shim_tracepoint_detach(const char *name, void *probe, void *data);
void witness_shim_tracepoint_sync(void);

void witness_shim_task_context(struct task_struct *task, struct witness_task_context *out);
void witness_shim_current_context(struct witness_task_context *out);
size_t witness_shim_exec_path(const struct linux_binprm *bprm, bool name_script, char *buf, size_t buflen,
			      u32 *flags);
void witness_shim_exec_inode(const struct linux_binprm *bprm, u32 *dev, u64 *ino, s64 *mtime_sec);
size_t witness_shim_exec_argv(char *buf, size_t buflen, u32 *flags);
u32 witness_shim_exec_argc(const struct linux_binprm *bprm);
s32 witness_shim_exit_code(struct task_struct *task);

int witness_shim_kretprobe_attach(unsigned int slot, const char *symbol, kretprobe_handler_t entry,
				  kretprobe_handler_t ret, size_t data_size, bool direct);

/* direct.c: security_file_open's ftrace direct call, in a probe slot. */
int witness_direct_attach(unsigned int slot, const char *symbol);
bool witness_direct_owns(unsigned int slot);
int witness_direct_arm(bool on);
void witness_direct_detach(void);
void witness_shim_kretprobe_detach(unsigned int slot);
unsigned long witness_shim_probe_missed(unsigned int slot);
int witness_shim_kprobe_attach(unsigned int slot, const char *symbol, kprobe_pre_handler_t pre);
void witness_shim_kprobe_detach(unsigned int slot);
int witness_shim_kprobe_arm(unsigned int slot, bool on);
int witness_shim_kretprobe_arm(unsigned int slot, bool on);

size_t witness_shim_file_path(const struct file *file, char *buf, size_t buflen, u16 *flags);
size_t witness_shim_dir_entry_path(const struct path *dir, const struct dentry *dentry, char *buf,
				   size_t buflen, u16 *flags);
void witness_shim_file_info(const struct file *file, u32 *f_flags, u32 *mode, u64 *ino, u32 *dev);
void witness_shim_dentry_info(struct dentry *dentry, u32 *mode, u64 *ino, u32 *dev);

u16 witness_shim_sockaddr(const struct sockaddr *sa, int len, struct witness_net_addr *out);
void witness_shim_sock_info(const struct sock *sk, u16 *family, u16 *type, u16 *protocol,
			    struct witness_net_addr *local, struct witness_net_addr *remote);
const struct sock *witness_shim_socket_sock(const struct socket *sock);
u64 witness_shim_sock_id(const struct sock *sk);
void witness_shim_init_keys(void);

bool witness_shim_cred_change(const struct cred *new, struct witness_cred_change *out);
u32 witness_shim_ns_change(struct task_struct *task, const struct nsproxy *new, u32 old_out[8],
			   u32 new_out[8]);
bool witness_shim_task_is_current(const struct task_struct *task);

void witness_shim_module_info(const struct module *mod, char name[56], u32 *taints);
void witness_shim_task_tgid_uid(struct task_struct *task, u32 *tgid, u32 *uid);

void witness_shim_timer_start(unsigned int period_ms);
void witness_shim_timer_stop(void);

#endif /* WITNESS_SHIM_H */
