/* kernels/cnum.h - numbers in text, the same in every locale (internal).
 *
 * The library parses and writes numbers in files (weights metadata, ground-truth boxes,
 * segmentation scales, plot labels): "0.485" must mean 0.485 whatever the host program did
 * with setlocale. strtod and printf follow LC_NUMERIC, so a program that called
 * setlocale(LC_ALL, "") under de_DE read "32,64" as 32.64 and wrote "0,485". These run in the
 * C locale for the calling thread only (uselocale), restoring the thread's own after. */
#ifndef VSSM_KERNELS_CNUM_H
#define VSSM_KERNELS_CNUM_H

#include <stddef.h>

/* strtod in the C locale ("." is the decimal point) */
double vssm_strtod_c(const char *s, char **end);
/* snprintf in the C locale */
int vssm_snprintf_c(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
