// SPDX-License-Identifier: GPL-2.0
/*
 * A do-nothing module that the VM tests load to trigger witness's
 * module_load hook (witness cannot observe its own load).
 */
#include <linux/module.h>

static int __init witness_testmod_init(void)
{
	return 0;
}

static void __exit witness_testmod_exit(void)
{
}

module_init(witness_testmod_init);
module_exit(witness_testmod_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("witness VM test module: loaded to be observed");
