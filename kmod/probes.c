// SPDX-License-Identifier: GPL-2.0
/*
 * Typed probes: every function the kernel calls when a hook fires.
 *
 * Each trampoline here has exactly the prototype its caller uses: the
 * kprobe pre-handler and kretprobe handler types of <linux/kprobes.h>, and
 * each tracepoint's own callback type. So on kernels with kCFI, whose
 * indirect calls check the callee's type, the kernel's calls land on a
 * function of the right type. A trampoline reads the probed function's
 * arguments as the types that function declares and calls its Rust
 * handler (kmod/hooks/) directly, which kCFI does not check.
 *
 * Drift is a build error, not a wrong field:
 *  - HOOKED(fn, type) asserts that the target kernel's headers declare fn
 *    with exactly that type; a kernel that adds, drops or retypes an
 *    argument fails the build here, naming the function.
 *  - TRACEPOINT_TYPED(tp, trampoline) passes the trampoline to the
 *    check_trace_callback_type_<tp>() that <linux/tracepoint.h> generates,
 *    which the kernel's -Werror=incompatible-pointer-types makes an error
 *    when the tracepoint's arguments change.
 * One function is exempt: request_key_and_link is private to security/keys
 * (its header is not installed), so its prototype is declared below as of
 * Linux 7.0-7.3 and is checked by the VM test of request_key(2) only.
 */

#include <linux/binfmts.h>
#include <linux/bpf.h>
#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/err.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/key-type.h>
#include <linux/key.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/nsproxy.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/security.h>
#include <linux/uaccess.h>
#include <net/inet_common.h>
#include <net/sock.h>
#include <trace/events/module.h>
#include <trace/events/sched.h>
#include <trace/events/skb.h>
#include <trace/events/sock.h>

#include "probes.h"

#if !IS_ENABLED(CONFIG_KPROBES) || !IS_ENABLED(CONFIG_KRETPROBES) || !IS_ENABLED(CONFIG_TRACEPOINTS)
#error "witness needs a kernel with CONFIG_KPROBES, CONFIG_KRETPROBES and CONFIG_TRACEPOINTS"
#endif
#if !IS_ENABLED(CONFIG_KEYS) || !IS_ENABLED(CONFIG_SECURITY_NETWORK) || !IS_ENABLED(CONFIG_INET)
#error "witness needs a kernel with CONFIG_KEYS, CONFIG_SECURITY_NETWORK and CONFIG_INET"
#endif
#if !IS_ENABLED(CONFIG_SECURITY_PATH)
/* Without it the security_path_* hooks are empty inlines: nothing to probe. */
#error "witness needs a kernel with CONFIG_SECURITY_PATH (AppArmor, TOMOYO and Landlock select it)"
#endif

#define HOOKED(fn, type)                                                            \
	static_assert(__builtin_types_compatible_p(typeof(fn), type),               \
		      #fn " no longer has the prototype witness reads its arguments " \
		      "by: update kmod/probes.c and its handler in kmod/hooks/")

#define TRACEPOINT_TYPED(tp, trampoline)                                \
	static void __maybe_unused witness_check_##tp(void)             \
	{                                                               \
		check_trace_callback_type_##tp(trampoline);             \
	}

/* The handler types <linux/kprobes.h> calls through. */
#define KPROBE_TYPED(fn) \
	static_assert(__builtin_types_compatible_p(typeof(&fn), kprobe_pre_handler_t))
#define KRETPROBE_TYPED(fn) \
	static_assert(__builtin_types_compatible_p(typeof(&fn), kretprobe_handler_t))

/* Argument n of the probed function, as the type it declares. */
#define ARG(regs, n, type) ((type)regs_get_kernel_argument(regs, n))

/* ---- process ---------------------------------------------------------- */

void witness_tp_sched_process_exec(void *data, struct task_struct *p, pid_t old_pid,
				   struct linux_binprm *bprm)
{
	witness_rs_sched_process_exec(data, p, bprm);
}
TRACEPOINT_TYPED(sched_process_exec, witness_tp_sched_process_exec)

void witness_tp_sched_process_fork(void *data, struct task_struct *parent, struct task_struct *child)
{
	witness_rs_sched_process_fork(data, parent, child);
}
TRACEPOINT_TYPED(sched_process_fork, witness_tp_sched_process_fork)

void witness_tp_sched_process_exit(void *data, struct task_struct *p, bool group_dead)
{
	witness_rs_sched_process_exit(data, p, group_dead);
}
TRACEPOINT_TYPED(sched_process_exit, witness_tp_sched_process_exit)

HOOKED(security_bprm_check, int(struct linux_binprm *));

int witness_kr_security_bprm_check_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return witness_rs_bprm_check_entry(ri->data, ARG(regs, 0, struct linux_binprm *));
}
KRETPROBE_TYPED(witness_kr_security_bprm_check_entry);

int witness_kr_security_bprm_check_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	witness_rs_bprm_check_return(ri->data, (int)regs_return_value(regs));
	return 0;
}
KRETPROBE_TYPED(witness_kr_security_bprm_check_return);

/* ---- files ------------------------------------------------------------ */

HOOKED(security_file_open, int(struct file *));
HOOKED(security_path_mknod, int(const struct path *, struct dentry *, umode_t, unsigned int));
HOOKED(security_path_unlink, int(const struct path *, struct dentry *));
HOOKED(security_path_rename,
       int(const struct path *, struct dentry *, const struct path *, struct dentry *, unsigned int));

int witness_kr_security_file_open_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct file *file = ARG(regs, 0, struct file *);

	/* overlayfs opens the real file behind each file it opens: that
	 * "backing file" open is the filesystem's own, already recorded as the
	 * open of the overlay path, so it is not an event. */
	if (file->f_mode & FMODE_BACKING)
		return 1;
	return witness_rs_file_open_entry(ri->data, file);
}
KRETPROBE_TYPED(witness_kr_security_file_open_entry);

int witness_kr_security_path_mknod_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return witness_rs_path_mknod_entry(ri->data, ARG(regs, 0, const struct path *),
					   ARG(regs, 1, struct dentry *), ARG(regs, 2, umode_t),
					   ARG(regs, 3, unsigned int));
}
KRETPROBE_TYPED(witness_kr_security_path_mknod_entry);

int witness_kr_security_path_unlink_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return witness_rs_path_unlink_entry(ri->data, ARG(regs, 0, const struct path *),
					    ARG(regs, 1, struct dentry *));
}
KRETPROBE_TYPED(witness_kr_security_path_unlink_entry);

int witness_kr_security_path_rename_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return witness_rs_path_rename_entry(ri->data, ARG(regs, 0, const struct path *),
					    ARG(regs, 1, struct dentry *),
					    ARG(regs, 2, const struct path *),
					    ARG(regs, 3, struct dentry *), ARG(regs, 4, unsigned int));
}
KRETPROBE_TYPED(witness_kr_security_path_rename_entry);

/* The four file hooks share one return handler: the stash names the hook. */
int witness_kr_file_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	witness_rs_file_return(ri->data, (int)regs_return_value(regs));
	return 0;
}
KRETPROBE_TYPED(witness_kr_file_return);

/* ---- network ---------------------------------------------------------- */

HOOKED(security_socket_connect, int(struct socket *, struct sockaddr *, int));
HOOKED(security_socket_bind, int(struct socket *, struct sockaddr *, int));
HOOKED(security_socket_listen, int(struct socket *, int));
HOOKED(__inet_accept, void(struct socket *, struct socket *, struct sock *));

int witness_kr_security_socket_connect_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return witness_rs_connect_entry(ri->data, ARG(regs, 0, struct socket *),
					ARG(regs, 1, struct sockaddr *), ARG(regs, 2, int));
}
KRETPROBE_TYPED(witness_kr_security_socket_connect_entry);

int witness_kr_security_socket_bind_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return witness_rs_bind_entry(ri->data, ARG(regs, 0, struct socket *),
				     ARG(regs, 1, struct sockaddr *), ARG(regs, 2, int));
}
KRETPROBE_TYPED(witness_kr_security_socket_bind_entry);

int witness_kr_security_socket_listen_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return witness_rs_listen_entry(ri->data, ARG(regs, 0, struct socket *), ARG(regs, 1, int));
}
KRETPROBE_TYPED(witness_kr_security_socket_listen_entry);

int witness_kr_sock_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	witness_rs_sock_return(ri->data, (int)regs_return_value(regs));
	return 0;
}
KRETPROBE_TYPED(witness_kr_sock_return);

int witness_kp_inet_accept(struct kprobe *p, struct pt_regs *regs)
{
	witness_rs_inet_accept(ARG(regs, 2, struct sock *));
	return 0;
}
KPROBE_TYPED(witness_kp_inet_accept);

void witness_tp_inet_sock_set_state(void *data, const struct sock *sk, const int oldstate,
				    const int newstate)
{
	witness_rs_inet_sock_set_state(data, sk, oldstate, newstate);
}
TRACEPOINT_TYPED(inet_sock_set_state, witness_tp_inet_sock_set_state)

void witness_tp_kfree_skb(void *data, struct sk_buff *skb, void *location,
			  enum skb_drop_reason reason, const struct sock *rx_sk)
{
	witness_rs_kfree_skb(data, (u32)reason);
}
TRACEPOINT_TYPED(kfree_skb, witness_tp_kfree_skb)

/* ---- credentials and namespaces --------------------------------------- */

HOOKED(commit_creds, int(struct cred *));
HOOKED(security_capable, int(const struct cred *, struct user_namespace *, int, unsigned int));
HOOKED(switch_task_namespaces, void(struct task_struct *, struct nsproxy *));

int witness_kp_commit_creds(struct kprobe *p, struct pt_regs *regs)
{
	witness_rs_commit_creds(ARG(regs, 0, struct cred *));
	return 0;
}
KPROBE_TYPED(witness_kp_commit_creds);

int witness_kr_security_capable_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return witness_rs_capable_entry(ri->data, ARG(regs, 2, int), ARG(regs, 3, unsigned int));
}
KRETPROBE_TYPED(witness_kr_security_capable_entry);

int witness_kr_security_capable_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	witness_rs_capable_return(ri->data, (int)regs_return_value(regs));
	return 0;
}
KRETPROBE_TYPED(witness_kr_security_capable_return);

int witness_kp_switch_task_namespaces(struct kprobe *p, struct pt_regs *regs)
{
	witness_rs_switch_task_namespaces(ARG(regs, 0, struct task_struct *),
					  ARG(regs, 1, struct nsproxy *));
	return 0;
}
KPROBE_TYPED(witness_kp_switch_task_namespaces);

/* ---- kernel integrity ------------------------------------------------- */

HOOKED(security_ptrace_access_check, int(struct task_struct *, unsigned int));

void witness_tp_module_load(void *data, struct module *mod)
{
	witness_rs_module_load(data, mod);
}
TRACEPOINT_TYPED(module_load, witness_tp_module_load)

/*
 * Syscalls, for what only their result says: that a module or BPF load
 * failed or was refused, whatever refused it (a bad image or signature,
 * lockdown, an LSM, the verifier, missing privilege). On x86-64 every
 * syscall handler is `long __x64_sys_NAME(const struct pt_regs *)` with the
 * caller's registers, which stay in current_pt_regs() until it returns.
 * They are declared here as the kernel's syscall table declares them, from
 * its generated list: a syscall this kernel lacks is a build error.
 */
#ifndef CONFIG_X86_64
#error "witness probes the x86-64 syscall handlers; other architectures are not supported yet"
#endif
#define __SYSCALL(nr, sym) extern long __x64_##sym(const struct pt_regs *);
#define __SYSCALL_NORETURN(nr, sym) __SYSCALL(nr, sym)
#include <asm/syscalls_64.h>
#undef __SYSCALL
#undef __SYSCALL_NORETURN

HOOKED(__x64_sys_bpf, long(const struct pt_regs *));
HOOKED(__x64_sys_init_module, long(const struct pt_regs *));
HOOKED(__x64_sys_finit_module, long(const struct pt_regs *));

/* bpf(int cmd, union bpf_attr *attr, unsigned int size): only program loads. */
int witness_kr_bpf_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	const struct pt_regs *user = ARG(regs, 0, const struct pt_regs *);

	if ((int)user->di != BPF_PROG_LOAD)
		return 1;
	return witness_rs_bpf_prog_load_wanted();
}
KRETPROBE_TYPED(witness_kr_bpf_entry);

/* The attribute fields a record names, read back from the caller's memory
 * (never faulting: what cannot be read stays zero). */
static void bpf_attr_fields(u32 *prog_type, u32 *insn_cnt, char name[BPF_OBJ_NAME_LEN])
{
	const struct pt_regs *user = current_pt_regs();
	const char __user *attr = (const char __user *)user->si;
	size_t size = (unsigned int)user->dx;

	*prog_type = 0;
	*insn_cnt = 0;
	memset(name, 0, BPF_OBJ_NAME_LEN);
	if (size >= offsetofend(union bpf_attr, insn_cnt)) {
		if (copy_from_user_nofault(prog_type, attr + offsetof(union bpf_attr, prog_type), sizeof(*prog_type)))
			*prog_type = 0;
		if (copy_from_user_nofault(insn_cnt, attr + offsetof(union bpf_attr, insn_cnt), sizeof(*insn_cnt)))
			*insn_cnt = 0;
	}
	if (size >= offsetofend(union bpf_attr, prog_name) &&
	    copy_from_user_nofault(name, attr + offsetof(union bpf_attr, prog_name), BPF_OBJ_NAME_LEN))
		memset(name, 0, BPF_OBJ_NAME_LEN);
	name[BPF_OBJ_NAME_LEN - 1] = 0;
}

int witness_kr_bpf_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	long ret = regs_return_value(regs);
	char name[BPF_OBJ_NAME_LEN];
	u32 prog_type, insn_cnt;

	bpf_attr_fields(&prog_type, &insn_cnt, name);
	witness_rs_bpf_prog_load_return(ret < 0 ? (int)ret : 0, prog_type, insn_cnt, name);
	return 0;
}
KRETPROBE_TYPED(witness_kr_bpf_return);

/* init_module(void *image, unsigned long len, const char *args): a failed
 * load names no module (its image may be anything). */
int witness_kr_init_module_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	long ret = regs_return_value(regs);

	if (ret < 0)
		witness_rs_module_load_failed(false, (int)ret, "");
	return 0;
}
KRETPROBE_TYPED(witness_kr_init_module_return);

/* finit_module(int fd, const char *args, int flags): a failed load is named
 * by its file's last path component. */
int witness_kr_finit_module_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	long ret = regs_return_value(regs);
	struct name_snapshot name;
	struct file *file;

	if (ret >= 0)
		return 0;
	file = fget((int)current_pt_regs()->di);
	if (!file) {
		witness_rs_module_load_failed(true, (int)ret, "");
		return 0;
	}
	take_dentry_name_snapshot(&name, file->f_path.dentry);
	witness_rs_module_load_failed(true, (int)ret, (const char *)name.name.name);
	release_dentry_name_snapshot(&name);
	fput(file);
	return 0;
}
KRETPROBE_TYPED(witness_kr_finit_module_return);

int witness_kr_security_ptrace_access_check_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return witness_rs_ptrace_entry(ri->data, ARG(regs, 0, struct task_struct *),
				       ARG(regs, 1, unsigned int));
}
KRETPROBE_TYPED(witness_kr_security_ptrace_access_check_entry);

int witness_kr_security_ptrace_access_check_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	witness_rs_ptrace_return(ri->data, (int)regs_return_value(regs));
	return 0;
}
KRETPROBE_TYPED(witness_kr_security_ptrace_access_check_return);

/* ---- keys ------------------------------------------------------------- */

HOOKED(key_create_or_update, key_ref_t(key_ref_t, const char *, const char *, const void *, size_t,
				       key_perm_t, unsigned long));

/* Private to security/keys (internal.h), so not checkable: see the top. */
struct key *request_key_and_link(struct key_type *type, const char *description,
				 struct key_tag *domain_tag, const void *callout_info,
				 size_t callout_len, void *aux, struct key *dest_keyring,
				 unsigned long flags);

int witness_kr_key_create_or_update_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return witness_rs_add_key_entry(ri->data, ARG(regs, 1, const char *),
					ARG(regs, 2, const char *));
}
KRETPROBE_TYPED(witness_kr_key_create_or_update_entry);

int witness_kr_request_key_and_link_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct key_type *type = ARG(regs, 0, struct key_type *);

	return witness_rs_request_key_entry(ri->data, type ? type->name : "",
					    ARG(regs, 1, const char *));
}
KRETPROBE_TYPED(witness_kr_request_key_and_link_entry);

/* Both return a pointer or an ERR_PTR: the verdict is 0 or the errno. */
int witness_kr_key_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	void *ret = (void *)regs_return_value(regs);

	witness_rs_key_return(ri->data, IS_ERR(ret) ? (int)PTR_ERR(ret) : 0);
	return 0;
}
KRETPROBE_TYPED(witness_kr_key_return);
