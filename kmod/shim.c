// SPDX-License-Identifier: GPL-2.0
/*
 * witness C shim: the parts of the module that Linux 7.x's Rust `kernel`
 * crate cannot express — the misc device and its file operations, wait
 * queues, irq_work, tracepoint lookup, and task accessors that are static
 * inlines or macros. It holds no policy: every decision about rings and
 * records is made by the Rust side (witness_kmod.rs), which these functions
 * call through the witness_rs_* entry points.
 *
 * File lifetime and unload: the file operations are owned by this module
 * (.owner = THIS_MODULE), so every open /dev/witness holds a module
 * reference from open until the VFS has finished with the file, after
 * release and after it read f_op->owner. The module's exit therefore runs
 * only when no file is open and no task can be anywhere in this module's
 * file code. `rmmod` with a descriptor open fails at once (EWOULDBLOCK,
 * "in use") instead of waiting, so a leaked descriptor cannot hang it.
 *
 * Collectors let go on request: writing 1 to the `shutdown` parameter
 * (/sys/module/witness/parameters/shutdown) refuses new opens, fails
 * read/ioctl/mmap with -ENODEV and makes poll report EPOLLHUP, so that
 * collectors close the device and `rmmod` succeeds; writing 0 reopens it.
 */

#include <linux/atomic.h>
#include <linux/capability.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ipc_namespace.h>
#include <linux/key-type.h>
#include <linux/kprobes.h>
#include <linux/mm.h>
#include <linux/net.h>
#include <linux/nsproxy.h>
#include <linux/pid_namespace.h>
#include <linux/ptrace.h>
#include <linux/random.h>
#include <linux/sched/clock.h>
#include <linux/siphash.h>
#include <linux/socket.h>
#include <linux/time_namespace.h>
#include <linux/timer.h>
#include <linux/uaccess.h>
#include <linux/un.h>
#include <linux/utsname.h>
#include <net/inet_sock.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>
#include <net/sock.h>
#include <linux/binfmts.h>
#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/irq_work.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/path.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/tracepoint.h>
#include <linux/uidgid.h>
#include <linux/user_namespace.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>

#include "probes.h"
#include "shim.h"

/* ---- parameters ------------------------------------------------------- */

static unsigned int ring_size_kib = 4096;
module_param(ring_size_kib, uint, 0444);
MODULE_PARM_DESC(ring_size_kib,
		 "Bytes of record data per CPU ring, in KiB (power of two, 64..1048576; default 4096)");

unsigned int witness_shim_ring_size_kib(void)
{
	return ring_size_kib;
}

/* ---- device ----------------------------------------------------------- */

static void *dev_ctx;
static DEFINE_MUTEX(dev_read_mutex); /* one consumer per ring: serialise reads */
static bool dev_dead = true; /* until registered, and from `shutdown` or exit */
static DECLARE_WAIT_QUEUE_HEAD(dev_readers);

static void wake_readers_work(struct irq_work *work)
{
	wake_up_interruptible_all(&dev_readers);
}

static struct irq_work dev_wake_work = IRQ_WORK_INIT(wake_readers_work);

static bool device_dead(void)
{
	return READ_ONCE(dev_dead);
}

static void set_dead(bool dead)
{
	WRITE_ONCE(dev_dead, dead);
	if (dead)
		wake_up_interruptible_all(&dev_readers);
}

/* `shutdown`: 1 makes collectors let go of the device (see the top). */
static int shutdown_set(const char *val, const struct kernel_param *kp)
{
	bool on;
	int ret = kstrtobool(val, &on);

	if (ret)
		return ret;
	/* dev_ctx is set while the device is registered. A write racing
	 * exit can only mark a device that no one can open any more. */
	if (!READ_ONCE(dev_ctx))
		return -ENODEV;
	set_dead(on);
	return 0;
}

static int shutdown_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", device_dead() ? 1 : 0);
}

static const struct kernel_param_ops shutdown_ops = {
	.set = shutdown_set,
	.get = shutdown_get,
};
module_param_cb(shutdown, &shutdown_ops, NULL, 0600);
MODULE_PARM_DESC(shutdown,
		 "1: refuse opens and fail reads with ENODEV so that collectors close /dev/witness and rmmod can proceed; 0: open again");

static int witness_open(struct inode *inode, struct file *file)
{
	if (device_dead())
		return -ENODEV;
	return nonseekable_open(inode, file);
}

static ssize_t witness_read(struct file *file, char __user *buf, size_t len, loff_t *off)
{
	long ret;

	for (;;) {
		if (device_dead())
			return -ENODEV;
		ret = witness_rs_read(dev_ctx, buf, len);
		if (ret != -EAGAIN || (file->f_flags & O_NONBLOCK))
			return ret;
		/* Until a watermark is unread, or 200 ms: records below the
		 * watermark are returned by the next try. */
		ret = wait_event_interruptible_timeout(dev_readers,
						       device_dead() || witness_rs_readable(dev_ctx),
						       HZ / 5);
		if (ret < 0)
			return ret;
	}
}

static __poll_t witness_poll(struct file *file, struct poll_table_struct *wait)
{
	poll_wait(file, &dev_readers, wait);
	if (device_dead())
		return EPOLLHUP | EPOLLERR;
	return witness_rs_readable(dev_ctx) ? (EPOLLIN | EPOLLRDNORM) : 0;
}

static int witness_mmap(struct file *file, struct vm_area_struct *vma)
{
	if (device_dead())
		return -ENODEV;
	return witness_rs_mmap(dev_ctx, vma, vma->vm_pgoff, vma->vm_end - vma->vm_start,
			       !!(vma->vm_flags & VM_WRITE), !!(vma->vm_flags & VM_SHARED));
}

/*
 * Maps `pgoff` pages into the vmalloc'd ring area `area` at the VMA. A
 * read-only mapping loses VM_MAYWRITE, so mprotect cannot make it writable
 * later. No vm_ops: nothing of this module runs when the mapping goes away.
 */
int witness_shim_mmap_area(struct vm_area_struct *vma, void *area, unsigned long pgoff, bool writable)
{
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	if (!writable)
		vm_flags_clear(vma, VM_MAYWRITE);
	return remap_vmalloc_range(vma, area, pgoff);
}

static long witness_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	if (device_dead())
		return -ENODEV;
	return witness_rs_ioctl(dev_ctx, cmd, arg);
}

static const struct file_operations witness_fops = {
	.owner = THIS_MODULE, /* an open file pins the module: see the top */
	.open = witness_open,
	.read = witness_read,
	.poll = witness_poll,
	.mmap = witness_mmap,
	.unlocked_ioctl = witness_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice witness_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "witness",
	.fops = &witness_fops,
	.mode = 0600,
};

int witness_shim_device_register(void *ctx)
{
	int ret;

	WRITE_ONCE(dev_ctx, ctx);
	WRITE_ONCE(dev_dead, false);
	ret = misc_register(&witness_misc);
	if (ret) {
		WRITE_ONCE(dev_dead, true);
		WRITE_ONCE(dev_ctx, NULL);
	}
	return ret;
}

/*
 * Called from exit, so no file is open (each holds a module reference) and
 * none can be (the module is going). What remains is the device node and
 * a deferred wakeup.
 */
void witness_shim_device_unregister(void)
{
	set_dead(true);
	misc_deregister(&witness_misc);
	irq_work_sync(&dev_wake_work);
	WRITE_ONCE(dev_ctx, NULL);
}

/* 0, or -EINTR when a signal interrupted the wait. */
int witness_shim_read_lock(void)
{
	return mutex_lock_interruptible(&dev_read_mutex);
}

void witness_shim_read_unlock(void)
{
	mutex_unlock(&dev_read_mutex);
}

static DEFINE_MUTEX(dev_control_mutex); /* serialises control ioctls */

int witness_shim_control_lock(void)
{
	return mutex_lock_interruptible(&dev_control_mutex);
}

void witness_shim_control_unlock(void)
{
	mutex_unlock(&dev_control_mutex);
}

bool witness_shim_capable_admin(void)
{
	return capable(CAP_SYS_ADMIN);
}

/* Called by producers after publishing. Cheap when nobody sleeps; the wakeup
 * itself is deferred to irq_work so that it is safe from any hook context. */
void witness_shim_wake_readers(void)
{
	if (wq_has_sleeper(&dev_readers))
		irq_work_queue(&dev_wake_work);
}

/* ---- memory ----------------------------------------------------------- */

/* Zeroed, page-aligned, and mappable into user space later (VM_USERMAP). */
void *witness_shim_ring_alloc(size_t size)
{
	return vmalloc_user(size);
}

void witness_shim_ring_free(void *area)
{
	vfree(area);
}

/* ---- CPUs and time ---------------------------------------------------- */

unsigned int witness_shim_nr_cpu_ids(void)
{
	return nr_cpu_ids;
}

bool witness_shim_cpu_possible(unsigned int cpu)
{
	return cpu < nr_cpu_ids && cpu_possible(cpu);
}

/* The caller has disabled preemption (hooks.rs: NoPreempt); the checked
 * smp_processor_id() says so on kernels with CONFIG_DEBUG_PREEMPT. */
unsigned int witness_shim_this_cpu(void)
{
	return smp_processor_id();
}

/* notrace: handlers run inside tracing callbacks. */
void witness_shim_preempt_disable(void)
{
	preempt_disable_notrace();
}

void witness_shim_preempt_enable(void)
{
	preempt_enable_notrace();
}

u64 witness_shim_boot_ns(void)
{
	return ktime_get_boot_fast_ns();
}

/* A cheap per-CPU clock for measuring handler cost. */
u64 witness_shim_clock_ns(void)
{
	return local_clock();
}

/* ---- tracepoints ------------------------------------------------------ */

struct tp_lookup {
	const char *name;
	struct tracepoint *found;
};

static void match_tracepoint(struct tracepoint *tp, void *priv)
{
	struct tp_lookup *lookup = priv;

	if (!lookup->found && strcmp(tp->name, lookup->name) == 0)
		lookup->found = tp;
}

static struct tracepoint *find_tracepoint(const char *name)
{
	struct tp_lookup lookup = { .name = name };

	for_each_kernel_tracepoint(match_tracepoint, &lookup);
	return lookup.found;
}

/* Attaches `probe` to the kernel tracepoint called `name`. -ENOENT when this
 * kernel has no such tracepoint. */
int witness_shim_tracepoint_attach(const char *name, void *probe, void *data)
{
	struct tracepoint *tp = find_tracepoint(name);

	return tp ? tracepoint_probe_register(tp, probe, data) : -ENOENT;
}

int witness_shim_tracepoint_detach(const char *name, void *probe, void *data)
{
	struct tracepoint *tp = find_tracepoint(name);

	return tp ? tracepoint_probe_unregister(tp, probe, data) : -ENOENT;
}

/* Waits until no probe detached before this call is still running. */
void witness_shim_tracepoint_sync(void)
{
	tracepoint_synchronize_unregister();
}

/* ---- tasks ------------------------------------------------------------ */

/* struct witness_task_context is shared-abi's TaskContext (record.rs). */
static_assert(sizeof(struct witness_task_context) == 56);
static_assert(offsetof(struct witness_task_context, cgroup_id) == 32);
static_assert(offsetof(struct witness_task_context, comm) == 40);

/*
 * An id as the initial user namespace sees it. Its map is the identity over
 * every valid id, so this is from_kuid_munged(&init_user_ns, id) without the
 * map walk (a quarter of the task context's cost, measured); the invalid id
 * becomes the overflow id, as there.
 */
static inline u32 init_ns_id(u32 id, int overflow)
{
	return id == (u32)-1 ? (u32)overflow : id;
}

void witness_shim_task_context(struct task_struct *task, struct witness_task_context *out)
{
	const struct cred *cred;

	out->pid = task_pid_nr(task);
	out->tgid = task_tgid_nr(task);
	out->reserved = 0;

	rcu_read_lock();
	out->ppid = task_tgid_nr(rcu_dereference(task->real_parent));
	cred = __task_cred(task);
	out->uid = init_ns_id(__kuid_val(cred->uid), overflowuid);
	out->euid = init_ns_id(__kuid_val(cred->euid), overflowuid);
	out->gid = init_ns_id(__kgid_val(cred->gid), overflowgid);
	out->egid = init_ns_id(__kgid_val(cred->egid), overflowgid);
#ifdef CONFIG_CGROUPS
	out->cgroup_id = cgroup_id(task_dfl_cgroup(task));
#else
	out->cgroup_id = 0;
#endif
	rcu_read_unlock();

	/* comm is NUL-terminated and zero-padded within TASK_COMM_LEN (the
	 * kernel sets it with strscpy_pad); a rename racing with this copy can
	 * mix the two names, never run past the array. */
	BUILD_BUG_ON(sizeof(out->comm) != sizeof(task->comm));
	memcpy(out->comm, task->comm, sizeof(out->comm));
}

void witness_shim_current_context(struct witness_task_context *out)
{
	witness_shim_task_context(current, out);
}

/*
 * Writes the path of the program being executed to buf (no NUL) and returns
 * its length. The path comes from the opened file (absolute, symlinks
 * resolved); when that fails it is the name passed to execve and
 * WITNESS_PATH_FROM_ARGUMENT is set. With name_script (the exec
 * tracepoint, by which time a script's interpreter is the opened file), a
 * script is named as passed to execve too, with WITNESS_PATH_SCRIPT: an
 * interpreter was
 * substituted when bprm->interp no longer is bprm->filename (binfmt_script
 * and binfmt_misc change it). WITNESS_PATH_TRUNCATED is set when buf was
 * too small. Flag values match EXEC_PATH_* in shared-abi/src/record.rs.
 */
#define WITNESS_PATH_TRUNCATED (1u << 0)
#define WITNESS_PATH_FROM_ARGUMENT (1u << 1)
#define WITNESS_PATH_SCRIPT (1u << 4)

size_t witness_shim_exec_path(const struct linux_binprm *bprm, bool name_script, char *buf, size_t buflen,
			      u32 *flags)
{
	const char *name;
	size_t len;

	*flags = 0;
	if (buflen == 0)
		return 0;
	if (name_script && bprm->filename && bprm->interp != bprm->filename) {
		*flags |= WITNESS_PATH_SCRIPT;
	} else if (bprm->file) {
		name = d_path(&bprm->file->f_path, buf, buflen);
		if (!IS_ERR(name)) {
			len = buf + buflen - 1 - name; /* d_path NUL-terminates at the end */
			memmove(buf, name, len);
			return len;
		}
	}
	*flags |= WITNESS_PATH_FROM_ARGUMENT;
	name = bprm->filename ? bprm->filename : "";
	len = strnlen(name, buflen + 1);
	if (len > buflen) {
		len = buflen;
		*flags |= WITNESS_PATH_TRUNCATED;
	}
	memcpy(buf, name, len);
	return len;
}

/* Device, inode number and mtime of the program being executed. */
void witness_shim_exec_inode(const struct linux_binprm *bprm, u32 *dev, u64 *ino, s64 *mtime_sec)
{
	struct inode *inode = bprm->file ? file_inode(bprm->file) : NULL;

	*dev = inode ? new_encode_dev(inode->i_sb->s_dev) : 0;
	*ino = inode ? inode->i_ino : 0;
	*mtime_sec = inode ? inode_get_mtime_sec(inode) : 0;
}

u32 witness_shim_exec_argc(const struct linux_binprm *bprm)
{
	return bprm->argc;
}

/* Exit status of an exiting task. */
s32 witness_shim_exit_code(struct task_struct *task)
{
	return task->exit_code;
}

/*
 * Copies the new program's arguments (NUL-separated, as on its stack) from
 * the current task's memory into buf, without faulting: from the
 * sched_process_exec tracepoint the pages were just written by exec and are
 * resident. Returns the bytes copied; sets WITNESS_ARGV_* flags.
 */
#define WITNESS_ARGV_TRUNCATED (1u << 2)
#define WITNESS_ARGV_UNREADABLE (1u << 3)

size_t witness_shim_exec_argv(char *buf, size_t buflen, u32 *flags)
{
	struct mm_struct *mm = current->mm;
	unsigned long start, end;
	size_t len;

	*flags = 0;
	if (!mm)
		return 0;
	start = READ_ONCE(mm->arg_start);
	end = READ_ONCE(mm->arg_end);
	if (end <= start)
		return 0;
	len = end - start;
	if (len > buflen) {
		len = buflen;
		*flags |= WITNESS_ARGV_TRUNCATED;
	}
	if (copy_from_user_nofault(buf, (const void __user *)start, len)) {
		*flags |= WITNESS_ARGV_UNREADABLE;
		return 0;
	}
	return len;
}

/* ---- kprobes ---------------------------------------------------------- */

/* One slot per hook id; the Rust side passes the slot. */
#define WITNESS_PROBE_SLOTS 32

static struct kretprobe witness_kretprobes[WITNESS_PROBE_SLOTS];
static struct kprobe witness_kprobes[WITNESS_PROBE_SLOTS];

/*
 * Registers a kretprobe on `symbol`. `entry` may be NULL; when it returns
 * nonzero the return handler is skipped. `data_size` bytes per instance are
 * passed from entry to return. The handlers are probes.c's trampolines.
 * With `direct`, an ftrace direct call (direct.c) is tried first; the
 * slot's other calls then go to it.
 */
int witness_shim_kretprobe_attach(unsigned int slot, const char *symbol, kretprobe_handler_t entry,
				  kretprobe_handler_t ret, size_t data_size, bool direct)
{
	struct kretprobe *krp;
	int err;

	if (slot >= WITNESS_PROBE_SLOTS)
		return -EINVAL;
	/* Filled in either case: the kretprobe is the direct call's fallback. */
	krp = &witness_kretprobes[slot];
	memset(krp, 0, sizeof(*krp));
	krp->kp.symbol_name = symbol;
	krp->entry_handler = entry;
	krp->handler = ret;
	krp->data_size = data_size;
	/* Instances held by tasks blocked inside the function (accept) or
	 * racing on other CPUs; a miss is counted in nmissed. */
	krp->maxactive = max_t(int, 64, 4 * num_possible_cpus());
	if (direct) {
		err = witness_direct_attach(slot, symbol);
		if (!err) {
			pr_info("witness: %s: ftrace direct call\n", symbol);
			return 0;
		}
		pr_info("witness: %s: kretprobe (no ftrace direct call: %s, error %d)\n", symbol,
			err == -EPERM	     ? "file_open_direct=0" :
			err == -EOPNOTSUPP ? "this kernel has none" :
			err == -EBUSY	     ? "another tracer holds it" :
					       "cannot register it",
			err);
	}
	return register_kretprobe(krp);
}

void witness_shim_kretprobe_detach(unsigned int slot)
{
	if (witness_direct_owns(slot))
		witness_direct_detach();
	else if (slot < WITNESS_PROBE_SLOTS && witness_kretprobes[slot].kp.symbol_name)
		unregister_kretprobe(&witness_kretprobes[slot]);
}

/*
 * Hits the slot's probe missed: calls a kretprobe could not follow (no free
 * instance), and kprobe or ftrace-based probe hits the kernel skipped
 * (the probe fired while another kprobe handler ran on the CPU). A slot
 * holds a kprobe or a kretprobe; the other's counters stay zero.
 */
unsigned long witness_shim_probe_missed(unsigned int slot)
{
	/* (A slot the direct call owns has no registered probe: a direct
	 * call misses nothing.) */
	if (slot >= WITNESS_PROBE_SLOTS)
		return 0;
	return witness_kretprobes[slot].nmissed + witness_kretprobes[slot].kp.nmissed +
	       witness_kprobes[slot].nmissed;
}

int witness_shim_kprobe_attach(unsigned int slot, const char *symbol, kprobe_pre_handler_t pre)
{
	struct kprobe *kp;

	if (slot >= WITNESS_PROBE_SLOTS)
		return -EINVAL;
	kp = &witness_kprobes[slot];
	memset(kp, 0, sizeof(*kp));
	kp->symbol_name = symbol;
	kp->pre_handler = pre;
	return register_kprobe(kp);
}

void witness_shim_kprobe_detach(unsigned int slot)
{
	if (slot < WITNESS_PROBE_SLOTS && witness_kprobes[slot].symbol_name)
		unregister_kprobe(&witness_kprobes[slot]);
}

/*
 * Arms or disarms a registered probe. A disarmed probe stays registered but
 * its site is restored (for a probe on ftrace, the function's NOP), so the
 * hooked function runs as if unprobed; a kretprobe's calls already in flight
 * still return through its handler.
 */
static int arm_kprobe(struct kprobe *kp, bool on)
{
	return on ? enable_kprobe(kp) : disable_kprobe(kp);
}

int witness_shim_kprobe_arm(unsigned int slot, bool on)
{
	if (slot >= WITNESS_PROBE_SLOTS || !witness_kprobes[slot].symbol_name)
		return -EINVAL;
	return arm_kprobe(&witness_kprobes[slot], on);
}

int witness_shim_kretprobe_arm(unsigned int slot, bool on)
{
	int err;

	if (witness_direct_owns(slot)) {
		err = witness_direct_arm(on);
		if (!err || !on)
			return err;
		/* Another tracer took the direct call while the hook was off:
		 * follow the function with the kretprobe from now on. */
		witness_direct_detach();
		pr_warn("witness: %s: the ftrace direct call is taken (error %d): now a kretprobe\n",
			witness_kretprobes[slot].kp.symbol_name, err);
		err = register_kretprobe(&witness_kretprobes[slot]);
		if (err) /* nothing left to detach */
			witness_kretprobes[slot].kp.symbol_name = NULL;
		return err;
	}
	if (slot >= WITNESS_PROBE_SLOTS || !witness_kretprobes[slot].kp.symbol_name)
		return -EINVAL;
	return arm_kprobe(&witness_kretprobes[slot].kp, on);
}

/* ---- files ------------------------------------------------------------ */

#define WITNESS_FILE_PATH_TRUNCATED (1u << 0)
#define WITNESS_FILE_PATH_UNRESOLVED (1u << 3)

/* d_path writes the name at the end of buf, NUL-terminated in its last
 * byte; this moves it to the front and returns its length. A name longer
 * than buf comes back as -ENAMETOOLONG: report it empty and truncated
 * rather than guess. The last byte is set beforehand, so that a NUL there
 * is d_path's own and the length is known without scanning the name; a
 * name that ends elsewhere (a filesystem's d_dname could) is measured. */
static size_t d_path_front(const struct path *path, char *buf, size_t buflen, u16 *flags)
{
	const char *name;
	size_t len;

	buf[buflen - 1] = 1;
	name = d_path(path, buf, buflen);
	if (IS_ERR(name)) {
		*flags |= PTR_ERR(name) == -ENAMETOOLONG ? WITNESS_FILE_PATH_TRUNCATED
							   : WITNESS_FILE_PATH_UNRESOLVED;
		return 0;
	}
	len = likely(buf[buflen - 1] == '\0') ? buf + buflen - 1 - name
						: strnlen(name, buf + buflen - name);
	memmove(buf, name, len);
	return len;
}

size_t witness_shim_file_path(const struct file *file, char *buf, size_t buflen, u16 *flags)
{
	*flags = 0;
	if (buflen == 0)
		return 0;
	return d_path_front(&file->f_path, buf, buflen, flags);
}

/* The path of `dentry`, an entry of the directory `dir`: the directory's
 * d_path, then the entry's name. Not d_path of the entry itself: a create
 * sees a dentry still being looked up, unhashed, which d_path would call
 * "(deleted)". The caller holds the directory's lock, so the name is
 * stable. */
size_t witness_shim_dir_entry_path(const struct path *dir, const struct dentry *dentry, char *buf,
				   size_t buflen, u16 *flags)
{
	size_t len, name_len = dentry->d_name.len;

	*flags = 0;
	if (buflen == 0)
		return 0;
	len = d_path_front(dir, buf, buflen, flags);
	if (len == 0)
		return 0; /* the directory did not resolve: the flags say why */
	if (len == 1)
		len = 0; /* the root: no doubled slash */
	if (len + 1 + name_len > buflen)
		*flags |= WITNESS_FILE_PATH_TRUNCATED;
	if (len < buflen)
		buf[len++] = '/';
	name_len = min(name_len, buflen - len);
	memcpy(buf + len, dentry->d_name.name, name_len);
	return len + name_len;
}

void witness_shim_file_info(const struct file *file, u32 *f_flags, u32 *mode, u64 *ino, u32 *dev)
{
	struct inode *inode = file_inode(file);

	*f_flags = file->f_flags;
	*mode = inode->i_mode;
	*ino = inode->i_ino;
	*dev = new_encode_dev(inode->i_sb->s_dev);
}

void witness_shim_dentry_info(struct dentry *dentry, u32 *mode, u64 *ino, u32 *dev)
{
	struct inode *inode = d_inode(dentry);

	*mode = inode ? inode->i_mode : 0;
	*ino = inode ? inode->i_ino : 0;
	*dev = new_encode_dev(dentry->d_sb->s_dev);
}

/* ---- network ---------------------------------------------------------- */

/* Mirrors shared-abi's NetAddr. */
struct witness_net_addr {
	u8 addr[16];
	u16 port;
	u16 reserved;
};

static_assert(sizeof(struct witness_net_addr) == 20);

/* Decodes a sockaddr the kernel already copied from the caller. Returns its
 * family (0 when too short to tell). */
u16 witness_shim_sockaddr(const struct sockaddr *sa, int len, struct witness_net_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (!sa || len < (int)sizeof(sa->sa_family))
		return 0;
	if (sa->sa_family == AF_INET && len >= (int)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		memcpy(out->addr, &in->sin_addr, 4);
		out->port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6 && len >= (int)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		memcpy(out->addr, &in6->sin6_addr, 16);
		out->port = ntohs(in6->sin6_port);
	}
	return sa->sa_family;
}

/* Family, type, protocol and the bound/connected addresses of a sock. */
void witness_shim_sock_info(const struct sock *sk, u16 *family, u16 *type, u16 *protocol,
			    struct witness_net_addr *local, struct witness_net_addr *remote)
{
	memset(local, 0, sizeof(*local));
	memset(remote, 0, sizeof(*remote));
	*family = sk->sk_family;
	*type = sk->sk_type;
	*protocol = sk->sk_protocol;
	if (sk->sk_family == AF_INET) {
		memcpy(local->addr, &sk->sk_rcv_saddr, 4);
		memcpy(remote->addr, &sk->sk_daddr, 4);
	}
#if IS_ENABLED(CONFIG_IPV6)
	else if (sk->sk_family == AF_INET6) {
		memcpy(local->addr, &sk->sk_v6_rcv_saddr, 16);
		memcpy(remote->addr, &sk->sk_v6_daddr, 16);
	}
#endif
	else
		return;
	local->port = sk->sk_num;
	remote->port = ntohs(sk->sk_dport);
}

const struct sock *witness_shim_socket_sock(const struct socket *sock)
{
	return sock ? sock->sk : NULL;
}

static siphash_key_t sock_id_key;

/* An opaque per-boot socket id: a keyed hash of the sock's address, so that
 * no kernel pointer reaches user space. */
u64 witness_shim_sock_id(const struct sock *sk)
{
	return siphash_1u64((u64)(unsigned long)sk, &sock_id_key);
}

void witness_shim_init_keys(void)
{
	get_random_bytes(&sock_id_key, sizeof(sock_id_key));
}

/* ---- credentials ------------------------------------------------------ */

/* Mirrors the "new" half of shared-abi's CredRecord. */
struct witness_cred_change {
	u32 new_uid;
	u32 new_euid;
	u32 new_gid;
	u32 new_egid;
	u64 old_cap_effective;
	u64 new_cap_effective;
	u64 old_cap_permitted;
	u64 new_cap_permitted;
};

static_assert(sizeof(struct witness_cred_change) == 48);

/* Compares the current task's credentials with `new`; returns whether any
 * recorded field changes. */
bool witness_shim_cred_change(const struct cred *new, struct witness_cred_change *out)
{
	const struct cred *old = current_cred();

	out->new_uid = from_kuid_munged(&init_user_ns, new->uid);
	out->new_euid = from_kuid_munged(&init_user_ns, new->euid);
	out->new_gid = from_kgid_munged(&init_user_ns, new->gid);
	out->new_egid = from_kgid_munged(&init_user_ns, new->egid);
	out->old_cap_effective = old->cap_effective.val;
	out->new_cap_effective = new->cap_effective.val;
	out->old_cap_permitted = old->cap_permitted.val;
	out->new_cap_permitted = new->cap_permitted.val;
	return !uid_eq(old->uid, new->uid) || !uid_eq(old->euid, new->euid) ||
	       !gid_eq(old->gid, new->gid) || !gid_eq(old->egid, new->egid) ||
	       old->cap_effective.val != new->cap_effective.val ||
	       old->cap_permitted.val != new->cap_permitted.val;
}

/* ---- namespaces ------------------------------------------------------- */

/* Inode numbers of the namespaces in an nsproxy, in shared-abi's NS_NAMES
 * order: uts, ipc, mnt, pid_for_children, net, time, cgroup. */
static void ns_inums(const struct nsproxy *ns, u32 out[8])
{
	memset(out, 0, 8 * sizeof(u32));
	if (!ns)
		return;
	out[0] = ns->uts_ns ? ns->uts_ns->ns.inum : 0;
	out[1] = ns->ipc_ns ? ns->ipc_ns->ns.inum : 0;
	/* struct mnt_namespace is private to fs/; its first member is its
	 * ns_common (fs/mount.h), which is all we read. */
	out[2] = ns->mnt_ns ? ((const struct ns_common *)ns->mnt_ns)->inum : 0;
	out[3] = ns->pid_ns_for_children ? ns->pid_ns_for_children->ns.inum : 0;
	out[4] = ns->net_ns ? ns->net_ns->ns.inum : 0;
#ifdef CONFIG_TIME_NS
	out[5] = ns->time_ns ? ns->time_ns->ns.inum : 0;
#endif
#ifdef CONFIG_CGROUPS
	out[6] = ns->cgroup_ns ? ns->cgroup_ns->ns.inum : 0;
#endif
}

/* For switch_task_namespaces(task, new): fills old and new inums and
 * returns the bit set of namespaces that differ. */
u32 witness_shim_ns_change(struct task_struct *task, const struct nsproxy *new, u32 old_out[8],
			   u32 new_out[8])
{
	u32 changed = 0;
	int i;

	ns_inums(task->nsproxy, old_out);
	ns_inums(new, new_out);
	for (i = 0; i < 7; i++)
		if (old_out[i] != new_out[i])
			changed |= 1u << i;
	return changed;
}

bool witness_shim_task_is_current(const struct task_struct *task)
{
	return task == current;
}

/* ---- kernel integrity ------------------------------------------------- */

void witness_shim_module_info(const struct module *mod, char name[56], u32 *taints)
{
	strscpy_pad(name, mod->name, 56);
	*taints = (u32)mod->taints;
}

void witness_shim_task_tgid_uid(struct task_struct *task, u32 *tgid, u32 *uid)
{
	*tgid = task_tgid_nr(task);
	rcu_read_lock();
	*uid = from_kuid_munged(&init_user_ns, __task_cred(task)->uid);
	rcu_read_unlock();
}

/* ---- periodic work ---------------------------------------------------- */

static struct timer_list witness_timer;
static unsigned long witness_timer_period;
static bool witness_timer_stopping;

static void witness_timer_tick(struct timer_list *t)
{
	witness_rs_timer_tick();
	if (!READ_ONCE(witness_timer_stopping))
		mod_timer(&witness_timer, jiffies + witness_timer_period);
}

/* Calls witness_rs_timer_tick from a timer (softirq context) every
 * period_ms milliseconds: a direct call, so nothing for kCFI to check. */
void witness_shim_timer_start(unsigned int period_ms)
{
	witness_timer_period = max(1UL, msecs_to_jiffies(period_ms));
	WRITE_ONCE(witness_timer_stopping, false);
	timer_setup(&witness_timer, witness_timer_tick, 0);
	mod_timer(&witness_timer, jiffies + witness_timer_period);
}

void witness_shim_timer_stop(void)
{
	WRITE_ONCE(witness_timer_stopping, true);
	timer_shutdown_sync(&witness_timer);
}
