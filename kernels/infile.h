/* kernels/infile.h - input files opened safely (internal).
 *
 * fopen of a path a stranger names blocks for ever on a FIFO (until a writer comes) and a
 * text loop over /dev/zero never sees EOF: `--labels fifo` hung, a meta_info.ini linked to
 * /dev/zero looped, `--labels /dev/zero` took 4 GB. Every input file the library reads goes
 * through this: opened without blocking, refused unless it is a regular file, and refused
 * when larger than what such a file can sensibly hold. */
#ifndef VSSM_KERNELS_INFILE_H
#define VSSM_KERNELS_INFILE_H

#include <stdint.h>
#include <stdio.h>
#include "vssm/common.h"

/* 64 MB: a text file of names, ids, boxes or settings (ImageNet-21k's names: 0.3 MB) */
#define VSSM_TEXT_FILE_MAX ((int64_t)64 << 20)

/* *out: path opened for reading ("rb") when it is a regular file of at most max_bytes (0: any
 * size). Otherwise *out = NULL and err names path and `what` (e.g. "the labels file"):
 * VSSM_ERR_IO when it cannot be opened or is a pipe, socket, device or folder,
 * VSSM_ERR_FORMAT when it is too large. */
vssm_status vssm_fopen_regular(FILE **out, const char *path, const char *what, int64_t max_bytes, vssm_err *err);

#endif
