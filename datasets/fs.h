/* datasets/fs.h - the file-system helpers every folder reader shares (library-internal):
 * image folders (tools/runner.c), re-ID datasets, tracking sequences, segmentation layouts. */
#ifndef VSSM_DATASETS_FS_H
#define VSSM_DATASETS_FS_H

#include <stddef.h>

/* 1 when p is a folder / a regular file (following links) */
int vssm_fs_is_dir(const char *p);
int vssm_fs_is_file(const char *p);
/* qsort comparison of two char * (byte order) */
int vssm_fs_cmp_str(const void *a, const void *b);
/* dir + "/" + name (no second '/' when dir ends in one; name alone when dir is ""), malloc'ed;
 * NULL when out of memory */
char *vssm_fs_join(const char *dir, const char *name);
/* 1 when name ends in one of the n extensions (".jpg", ...), compared without case */
int vssm_fs_has_ext(const char *name, const char *const *exts, size_t n);

#endif
