/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The typed probes (probes.c) and the Rust handlers they call (kmod/hooks/,
 * `#[no_mangle] extern "C"`). Kernel objects reach Rust as opaque pointers;
 * the Rust declarations in kmod/hooks/ mirror these one for one.
 */
#ifndef WITNESS_PROBES_H
#define WITNESS_PROBES_H

#include <linux/kprobes.h>
#include <linux/types.h>
#include <net/dropreason-core.h>

struct cred;
struct dentry;
struct file;
struct linux_binprm;
struct module;
struct nsproxy;
struct sk_buff;
struct sock;
struct sockaddr;
struct socket;
struct task_struct;

/* Trampolines (probes.c), registered by hooks.rs. */
void witness_tp_sched_process_exec(void *data, struct task_struct *p, pid_t old_pid,
				   struct linux_binprm *bprm);
void witness_tp_sched_process_fork(void *data, struct task_struct *parent, struct task_struct *child);
void witness_tp_sched_process_exit(void *data, struct task_struct *p, bool group_dead);
void witness_tp_inet_sock_set_state(void *data, const struct sock *sk, const int oldstate,
				    const int newstate);
void witness_tp_kfree_skb(void *data, struct sk_buff *skb, void *location,
			  enum skb_drop_reason reason, const struct sock *rx_sk);
void witness_tp_module_load(void *data, struct module *mod);

int witness_kp_commit_creds(struct kprobe *p, struct pt_regs *regs);
int witness_kp_switch_task_namespaces(struct kprobe *p, struct pt_regs *regs);
int witness_kp_inet_accept(struct kprobe *p, struct pt_regs *regs);

int witness_kr_security_bprm_check_entry(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_security_bprm_check_return(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_security_file_open_entry(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_security_path_mknod_entry(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_security_path_unlink_entry(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_security_path_rename_entry(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_file_return(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_security_socket_connect_entry(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_security_socket_bind_entry(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_security_socket_listen_entry(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_sock_return(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_security_capable_entry(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_security_capable_return(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_bpf_entry(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_bpf_return(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_init_module_return(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_finit_module_return(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_security_ptrace_access_check_entry(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_security_ptrace_access_check_return(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_key_create_or_update_entry(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_request_key_and_link_entry(struct kretprobe_instance *ri, struct pt_regs *regs);
int witness_kr_key_return(struct kretprobe_instance *ri, struct pt_regs *regs);

/*
 * Rust handlers. `data` is the tracepoint's data (the module State) or the
 * kretprobe instance's per-call data; an entry handler returns nonzero to
 * skip the return handler.
 */
void witness_rs_sched_process_exec(void *data, struct task_struct *p, struct linux_binprm *bprm);
void witness_rs_sched_process_fork(void *data, struct task_struct *parent, struct task_struct *child);
void witness_rs_sched_process_exit(void *data, struct task_struct *p, bool group_dead);
int witness_rs_bprm_check_entry(void *data, struct linux_binprm *bprm);
void witness_rs_bprm_check_return(void *data, int ret);

int witness_rs_file_open_entry(void *data, struct file *file);
int witness_rs_path_mknod_entry(void *data, const struct path *dir, struct dentry *dentry,
				unsigned int mode, unsigned int dev);
int witness_rs_path_unlink_entry(void *data, const struct path *dir, struct dentry *dentry);
int witness_rs_path_rename_entry(void *data, const struct path *old_dir, struct dentry *old_dentry,
				 const struct path *new_dir, struct dentry *new_dentry, unsigned int flags);
void witness_rs_file_return(void *data, int ret);
/* For the direct call of security_file_open (direct.c). */
int witness_rs_file_open_wanted(void);
void witness_rs_file_open_return(struct file *file, int ret);

int witness_rs_connect_entry(void *data, struct socket *sock, struct sockaddr *address, int addrlen);
int witness_rs_bind_entry(void *data, struct socket *sock, struct sockaddr *address, int addrlen);
int witness_rs_listen_entry(void *data, struct socket *sock, int backlog);
void witness_rs_sock_return(void *data, int ret);
void witness_rs_inet_accept(struct sock *newsk);
void witness_rs_inet_sock_set_state(void *data, const struct sock *sk, int oldstate, int newstate);
void witness_rs_kfree_skb(void *data, u32 reason);

void witness_rs_commit_creds(struct cred *new);
int witness_rs_capable_entry(void *data, int cap, unsigned int opts);
void witness_rs_capable_return(void *data, int ret);
void witness_rs_switch_task_namespaces(struct task_struct *tsk, struct nsproxy *new);

void witness_rs_module_load(void *data, struct module *mod);
int witness_rs_bpf_prog_load_wanted(void);
void witness_rs_bpf_prog_load_return(int verdict, u32 prog_type, u32 insn_cnt, const char *name);
void witness_rs_module_load_failed(bool finit, int verdict, const char *name);
int witness_rs_ptrace_entry(void *data, struct task_struct *child, unsigned int mode);
void witness_rs_ptrace_return(void *data, int ret);

int witness_rs_add_key_entry(void *data, const char *type, const char *description);
int witness_rs_request_key_entry(void *data, const char *type, const char *description);
void witness_rs_key_return(void *data, int verdict);

void witness_rs_timer_tick(void);

#endif /* WITNESS_PROBES_H */
