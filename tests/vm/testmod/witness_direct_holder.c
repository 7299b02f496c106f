// SPDX-License-Identifier: GPL-2.0
/*
 * Holds security_file_open's one ftrace direct call, as a BPF fentry or
 * fexit program on it would, so that the VM tests can check that witness
 * then follows the function with its kretprobe: when loaded after this, and
 * when a kind that was off (its direct call removed) is turned back on.
 */
#include <linux/ftrace.h>
#include <linux/module.h>
#include <linux/string.h>
#include <asm/ibt.h>
#include <asm/linkage.h>

void witness_holder_tramp(void);

/* Called from the function's fentry site: returns straight into its body. */
asm(".pushsection .text, \"ax\", @progbits\n"
    ".type witness_holder_tramp, @function\n"
    ".globl witness_holder_tramp\n"
    "witness_holder_tramp:\n\t"
    ASM_ENDBR
    ASM_RET
    ".size witness_holder_tramp, .-witness_holder_tramp\n"
    ".popsection\n");

static struct ftrace_ops holder_ops;

static int __init witness_holder_init(void)
{
	char name[] = "security_file_open";
	int err;

	err = ftrace_set_filter(&holder_ops, name, strlen(name), 1);
	if (err)
		return err;
	err = register_ftrace_direct(&holder_ops, (unsigned long)witness_holder_tramp);
	if (err)
		ftrace_free_filter(&holder_ops);
	return err;
}

static void __exit witness_holder_exit(void)
{
	unregister_ftrace_direct(&holder_ops, (unsigned long)witness_holder_tramp, true);
}

module_init(witness_holder_init);
module_exit(witness_holder_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("witness VM test module: holds security_file_open's ftrace direct call");
