/* outfile.c - unique temp file beside the target, then rename (see vssm/outfile.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include "vssm/outfile.h"

static mode_t current_umask(void) {
    /* umask() can only be read by setting it; Linux exposes it in /proc without a race */
    FILE *f = fopen("/proc/self/status", "r");
    mode_t m = 022;
    if (f) {
        char line[128];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "Umask:", 6)) {
                m = (mode_t)strtol(line + 6, NULL, 8);
                break;
            }
        fclose(f);
    }
    return m;
}

vssm_status vssm_outfile_open(vssm_outfile *o, const char *path, vssm_err *err) {
    memset(o, 0, sizeof *o);
    if (!path || !*path) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "output file: empty path");
    size_t n = strlen(path);
    o->path = malloc(n + 1);
    o->tmp = malloc(n + 8);
    if (!o->path || !o->tmp) {
        vssm_outfile_abort(o);
        return vssm_err_set(err, VSSM_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(o->path, path, n + 1);
    /* an existing target that is not a regular file (/dev/null, /dev/stdout, a FIFO) is
     * written in place: renaming over it would replace a device node with a plain file */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        free(o->tmp);
        o->tmp = NULL;
        if (S_ISDIR(st.st_mode)) {
            vssm_outfile_abort(o);
            return vssm_err_set(err, VSSM_ERR_IO, "%s: is a folder, not a file", path);
        }
        o->f = fopen(path, "wb");
        if (!o->f) {
            int e = errno;
            vssm_outfile_abort(o);
            return vssm_err_set(err, VSSM_ERR_IO, "%s: cannot open for writing (%s)", path, strerror(e));
        }
        return VSSM_OK;
    }
    memcpy(o->tmp, path, n);
    memcpy(o->tmp + n, ".XXXXXX", 8);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        int e = errno;
        free(o->tmp);
        o->tmp = NULL;
        vssm_outfile_abort(o);
        return vssm_err_set(err, VSSM_ERR_IO, "%s: cannot create a file there (%s)", path, strerror(e));
    }
    (void)fchmod(fd, 0666 & ~current_umask());
    o->f = fdopen(fd, "wb");
    if (!o->f) {
        int e = errno;
        close(fd);
        vssm_outfile_abort(o);
        return vssm_err_set(err, VSSM_ERR_IO, "%s: cannot open for writing (%s)", path, strerror(e));
    }
    return VSSM_OK;
}

vssm_status vssm_outfile_commit(vssm_outfile *o, vssm_err *err) {
    if (!o->f || !o->path) {
        vssm_outfile_abort(o);
        return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "output file: commit without a successful open");
    }
    int bad = fflush(o->f) != 0 || ferror(o->f);
    /* on disk before the rename: after a power cut the target is the old file or the whole
     * new one, never an empty or partial one (a device written in place needs no sync) */
    if (!bad && o->tmp && fsync(fileno(o->f)) != 0) bad = 1;
    int e = errno;
    if (fclose(o->f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    o->f = NULL;
    if (bad) {
        vssm_err_set(err, VSSM_ERR_IO, "%s: write failed (%s)", o->path, strerror(e));
        vssm_outfile_abort(o);
        return VSSM_ERR_IO;
    }
    if (o->tmp && rename(o->tmp, o->path) != 0) {
        e = errno;
        vssm_err_set(err, VSSM_ERR_IO, "%s: cannot move the finished file into place (%s)", o->path, strerror(e));
        vssm_outfile_abort(o);
        return VSSM_ERR_IO;
    }
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
    return VSSM_OK;
}

void vssm_outfile_abort(vssm_outfile *o) {
    if (!o) return;
    if (o->f) fclose(o->f);
    if (o->tmp) remove(o->tmp);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
}
