// SPDX-License-Identifier: GPL-2.0
/*
 * witness C shim: the parts of the module that Linux 6.12's Rust `kernel`
 * crate cannot express — the misc device and its file operations, wait
 * queues, irq_work, tracepoint lookup, and task accessors that are static
 * inlines or macros. It holds no policy: every decision about rings and
 * records is made by the Rust side (witness_kmod.rs), which these functions
 * call through the witness_rs_* entry points.
 *
 * File lifetime and unload: the file operations have no owner, so an open
 * /dev/witness does not pin the module and `rmmod` works while a collector
 * is reading. Instead, witness_shim_device_unregister() marks the device
 * dead, wakes every reader (read and poll then report -ENODEV / EPOLLHUP) and
 * waits until every open file has been released before the Rust side frees
 * the rings. A file's release does its last store with preemption disabled;
 * the module loader calls synchronize_rcu() after exit and before freeing
 * module text, so that release has returned by then on non-preemptible
 * kernels (PREEMPT_NONE and VOLUNTARY, the common server configurations).
 */

#include <linux/atomic.h>
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
static bool dev_dead;
static atomic_t dev_open_files = ATOMIC_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(dev_readers);
static DECLARE_WAIT_QUEUE_HEAD(dev_released);

static void wake_readers_work(struct irq_work *work)
{
	wake_up_interruptible_all(&dev_readers);
}

static struct irq_work dev_wake_work = IRQ_WORK_INIT(wake_readers_work);

static bool device_dead(void)
{
	return READ_ONCE(dev_dead);
}

static int witness_open(struct inode *inode, struct file *file)
{
	/* misc_open holds misc_mtx, which unregister takes after setting dead. */
	if (device_dead())
		return -ENODEV;
	atomic_inc(&dev_open_files);
	return nonseekable_open(inode, file);
}

static int witness_release(struct inode *inode, struct file *file)
{
	preempt_disable();
	if (atomic_dec_and_test(&dev_open_files))
		wake_up_all(&dev_released);
	preempt_enable();
	return 0;
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
		ret = wait_event_interruptible(dev_readers,
					       device_dead() || witness_rs_readable(dev_ctx));
		if (ret)
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

static long witness_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	if (device_dead())
		return -ENODEV;
	return witness_rs_ioctl(dev_ctx, cmd, arg);
}

static const struct file_operations witness_fops = {
	.owner = NULL, /* deliberately: see the comment at the top */
	.open = witness_open,
	.release = witness_release,
	.read = witness_read,
	.poll = witness_poll,
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
	dev_ctx = ctx;
	WRITE_ONCE(dev_dead, false);
	return misc_register(&witness_misc);
}

void witness_shim_device_unregister(void)
{
	WRITE_ONCE(dev_dead, true);
	/* After this no open can start; opens in progress have finished. */
	misc_deregister(&witness_misc);
	wake_up_interruptible_all(&dev_readers);
	wait_event(dev_released, atomic_read(&dev_open_files) == 0);
	irq_work_sync(&dev_wake_work);
	dev_ctx = NULL;
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

/* The caller runs with preemption disabled (tracepoint or kprobe handler). */
unsigned int witness_shim_this_cpu(void)
{
	return raw_smp_processor_id();
}

u64 witness_shim_boot_ns(void)
{
	return ktime_get_boot_fast_ns();
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

static_assert(sizeof(struct witness_task_ids) == 56);
static_assert(offsetof(struct witness_task_ids, cgroup_id) == 32);
static_assert(offsetof(struct witness_task_ids, comm) == 40);

void witness_shim_task_ids(struct task_struct *task, struct witness_task_ids *out)
{
	const struct cred *cred;

	out->pid = task_pid_nr(task);
	out->tgid = task_tgid_nr(task);
	out->reserved = 0;

	rcu_read_lock();
	out->ppid = task_tgid_nr(rcu_dereference(task->real_parent));
	cred = __task_cred(task);
	out->uid = from_kuid_munged(&init_user_ns, cred->uid);
	out->euid = from_kuid_munged(&init_user_ns, cred->euid);
	out->gid = from_kgid_munged(&init_user_ns, cred->gid);
	out->egid = from_kgid_munged(&init_user_ns, cred->egid);
#ifdef CONFIG_CGROUPS
	out->cgroup_id = cgroup_id(task_dfl_cgroup(task));
#else
	out->cgroup_id = 0;
#endif
	rcu_read_unlock();

	/* comm is NUL-terminated within TASK_COMM_LEN; pad the rest with 0. */
	strscpy_pad(out->comm, task->comm, sizeof(out->comm));
}

/*
 * Writes the path of the program being executed to buf (no NUL) and returns
 * its length. The path comes from the opened file (absolute, symlinks
 * resolved); when that fails it is the name passed to execve and
 * WITNESS_PATH_FROM_ARGUMENT is set. WITNESS_PATH_TRUNCATED is set when buf
 * was too small. Flag values match EXEC_PATH_* in shared-abi/src/record.rs.
 */
#define WITNESS_PATH_TRUNCATED (1u << 0)
#define WITNESS_PATH_FROM_ARGUMENT (1u << 1)

size_t witness_shim_exec_path(const struct linux_binprm *bprm, char *buf, size_t buflen, u32 *flags)
{
	const char *name;
	size_t len;

	*flags = 0;
	if (buflen == 0)
		return 0;
	if (bprm->file) {
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
