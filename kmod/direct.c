// SPDX-License-Identifier: GPL-2.0
/*
 * security_file_open through an ftrace direct call: the cheapest way the
 * kernel offers a module to follow a function's entry and return, and the
 * one BPF trampolines use. ftrace patches the function's fentry site into a
 * call of witness_fo_tramp (direct_tramp.S), which calls the handlers here
 * and the function's body from its own stack frame. `make bench` measured
 * a recorded open at about 460 instructions fewer than through the
 * kretprobe (entry through ftrace_regs_caller and the kprobe dispatch,
 * return through the rethook trampoline and its instance pool).
 *
 * The kretprobe stays the fallback: on kernels without direct calls, when
 * another tracer (a BPF fentry or fexit program) already holds the
 * function's direct call, or with `file_open_direct=0`, which leaves the
 * direct call free for such a tracer. Which one attached is logged.
 *
 * Unload: a task can be inside the body, called from the trampoline, when
 * the direct call is removed (an LSM's file_open may sleep), and it will
 * return into the trampoline. So every followed call is counted in flight
 * from witness_fo_enter until witness_fo_exit, and detach waits, after
 * removing the call, first for RCU tasks (no task is left between the
 * fentry site and the count), then for the count to drain, then for RCU
 * tasks again (no task is left in the trampoline's last instructions).
 */

#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/ftrace.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>

#include "probes.h"
#include "shim.h"

static bool file_open_direct = true;
module_param(file_open_direct, bool, 0444);
MODULE_PARM_DESC(file_open_direct,
		 "Follow security_file_open with an ftrace direct call (default 1); 0 uses a "
		 "kretprobe and leaves the function's direct call to another tracer");

#if defined(CONFIG_X86_64) && IS_ENABLED(CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS) && \
	IS_ENABLED(CONFIG_TASKS_RCU)

void witness_fo_tramp(void);
int witness_fo_enter(struct file *file);
void witness_fo_exit(struct file *file, int verdict);

static struct ftrace_ops fo_ops;
static int fo_slot = -1; /* the probe slot the direct call stands in for */
static bool fo_registered;
static DEFINE_PER_CPU(long, fo_in_flight);

/* From the trampoline, before the body: nonzero to follow this call. */
int notrace witness_fo_enter(struct file *file)
{
	/* As the kretprobe's entry (probes.c): overlayfs's backing-file opens
	 * are the filesystem's own. */
	if (file->f_mode & FMODE_BACKING)
		return 0;
	if (!witness_rs_file_open_wanted())
		return 0;
	this_cpu_inc(fo_in_flight);
	return 1;
}

/* From the trampoline, after the body of a followed call. */
void notrace witness_fo_exit(struct file *file, int verdict)
{
	witness_rs_file_open_return(file, verdict);
	this_cpu_dec(fo_in_flight);
}

bool witness_direct_owns(unsigned int slot)
{
	return fo_slot >= 0 && slot == (unsigned int)fo_slot;
}

int witness_direct_attach(unsigned int slot, const char *symbol)
{
	char name[KSYM_NAME_LEN];
	int err;

	if (!file_open_direct)
		return -EPERM;
	if (strcmp(symbol, "security_file_open") != 0)
		return -EINVAL;
	strscpy(name, symbol);
	err = ftrace_set_filter(&fo_ops, name, strlen(name), 1);
	if (err)
		return err;
	err = register_ftrace_direct(&fo_ops, (unsigned long)witness_fo_tramp);
	if (err) {
		ftrace_free_filter(&fo_ops);
		return err;
	}
	fo_slot = slot;
	fo_registered = true;
	return 0;
}

/* Off: the fentry site is a NOP again (calls in flight still return
 * through the trampoline). On: the direct call again. */
int witness_direct_arm(bool on)
{
	int err;

	if (on == fo_registered)
		return 0;
	if (on)
		err = register_ftrace_direct(&fo_ops, (unsigned long)witness_fo_tramp);
	else
		err = unregister_ftrace_direct(&fo_ops, (unsigned long)witness_fo_tramp, false);
	if (!err)
		fo_registered = on;
	return err;
}

static long in_flight(void)
{
	long sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += per_cpu(fo_in_flight, cpu);
	return sum;
}

void witness_direct_detach(void)
{
	unsigned int waited = 0;
	long n;

	if (fo_slot < 0)
		return;
	if (fo_registered)
		unregister_ftrace_direct(&fo_ops, (unsigned long)witness_fo_tramp, true);
	else
		ftrace_free_filter(&fo_ops);
	fo_registered = false;
	synchronize_rcu_tasks();
	while ((n = in_flight()) > 0) {
		if (++waited % 10000 == 0)
			pr_info("witness: unload waits for %ld security_file_open calls in flight\n", n);
		usleep_range(1000, 2000);
	}
	synchronize_rcu_tasks();
	fo_slot = -1;
}

#else /* no direct calls: the kretprobe */

bool witness_direct_owns(unsigned int slot)
{
	return false;
}

int witness_direct_attach(unsigned int slot, const char *symbol)
{
	return -EOPNOTSUPP;
}

int witness_direct_arm(bool on)
{
	return -EOPNOTSUPP;
}

void witness_direct_detach(void)
{
}

#endif
