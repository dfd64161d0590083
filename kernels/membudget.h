/* kernels/membudget.h - how much memory a plan may take (internal).
 *
 * With Linux's overcommit, malloc of 14 GB on a 24 GB machine succeeds and the pages are
 * taken as they are touched: a plan past the machine's memory ends in the OOM killer, not in
 * an error. A plan whose size depends on a stranger's input (segment at an image's own size:
 * a 20 KB 13000x13000 PNG asked for 14.6 GB) is checked against this first. */
#ifndef VSSM_KERNELS_MEMBUDGET_H
#define VSSM_KERNELS_MEMBUDGET_H

#include <stddef.h>

/* 3/4 of the memory this process may use: the machine's RAM, or its cgroup's limit
 * (memory.max, a container's) where lower; $VSSM_MEM_BUDGET (bytes, or with K, M or G) in
 * place of that figure where set (tests; a container that hides its limit). Read at each call. */
size_t vssm_mem_budget(void);

#endif
