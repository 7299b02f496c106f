/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The trampoline of security_file_open's ftrace direct call (direct.c).
 *
 * ftrace patches the function's fentry site into `call witness_fo_tramp`
 * (or, when other ftrace users share the function, ftrace_regs_caller
 * jumps here with the same stack). So on entry:
 *
 *	0(%rsp)	the address after the fentry site: the function's body
 *	8(%rsp)	the return address into security_file_open's caller
 *	%rdi	the struct file *, its only argument
 *
 * The trampoline asks witness_fo_enter whether to follow this call. If
 * not, it returns into the body as if nothing had happened. If so, it calls
 * the body itself, so that the body returns here with the verdict, hands
 * file and verdict to witness_fo_exit, and returns the verdict to the
 * caller, skipping the fentry frame. This is what a BPF fexit trampoline
 * does; unlike a kretprobe, nothing is stored outside this stack frame, so
 * there is no instance pool, no return-address rewriting and no pt_regs.
 *
 * The body is entered with a `ret`, not an indirect call: the body's start
 * is no ENDBR target, and a module cannot emit a direct call to a
 * non-exported function. The pushed return address is balanced in the
 * return stack buffer by the call in .Lcall_body, as ftrace_regs_caller
 * does for its own push-and-return.
 *
 * Frame (the stack is 16-byte aligned at every call):
 *	-8(%rbp)	the struct file *
 *	-16(%rbp)	the verdict
 */
#include <linux/linkage.h>
#include <linux/objtool.h>
#include <asm/ibt.h>
#include <asm/nospec-branch.h>

	.text
SYM_FUNC_START(witness_fo_tramp)
	ENDBR
	pushq	%rbp
	movq	%rsp, %rbp
	CALL_DEPTH_ACCOUNT
	subq	$24, %rsp
	movq	%rdi, -8(%rbp)
	call	witness_fo_enter
	testl	%eax, %eax
	jz	.Lbody_only
	movq	-8(%rbp), %rdi
	call	.Lcall_body
	/* The body returns here, its verdict in %eax. */
	movq	%rax, -16(%rbp)
	movq	-8(%rbp), %rdi
	movl	%eax, %esi
	call	witness_fo_exit
	movq	-16(%rbp), %rax
	leave
	/* Skip the fentry frame: return to security_file_open's caller. */
	addq	$8, %rsp
	RET
.Lbody_only:
	movq	-8(%rbp), %rdi
	leave
	RET
.Lcall_body:
	/* On the stack: .Lcall_body's return address, then the body's. */
	pushq	8(%rbp)
	call	1f
	int3
1:	addq	$8, %rsp
	RET
SYM_FUNC_END(witness_fo_tramp)

/* Not a C frame (it returns into the body and skips a frame): objtool
 * leaves it unvalidated; the unwinder walks it by its frame pointer. */
STACK_FRAME_NON_STANDARD witness_fo_tramp
