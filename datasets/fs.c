/* datasets/fs.c - see fs.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "datasets/fs.h"

int vssm_fs_is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int vssm_fs_is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

int vssm_fs_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char *vssm_fs_join(const char *dir, const char *name) {
    const size_t dl = strlen(dir), n = dl + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s%s", dir, (dl && dir[dl - 1] != '/') ? "/" : "", name);
    return p;
}

int vssm_fs_has_ext(const char *name, const char *const *exts, size_t n) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(dot, exts[i])) return 1;
    return 0;
}
