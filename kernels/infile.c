/* kernels/infile.c - input files opened safely (kernels/infile.h). */
#include "kernels/infile.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

vssm_status vssm_fopen_regular(FILE **out, const char *path, const char *what, int64_t max_bytes, vssm_err *err) {
    *out = NULL;
    if (!what) what = "the file";
    if (!path || !*path) return vssm_err_set(err, VSSM_ERR_INVALID_ARG, "%s: no path given", what);
    /* O_NONBLOCK: opening a FIFO without a writer returns at once (then refused below) */
    const int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return vssm_err_set(err, VSSM_ERR_IO, "%s: cannot open %s (%s)", path, what, strerror(errno));
    struct stat sb;
    memset(&sb, 0, sizeof sb);
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        const int dir = S_ISDIR(sb.st_mode);
        close(fd);
        return vssm_err_set(err, VSSM_ERR_IO, "%s: %s is %s, not a regular file", path, what,
                            dir ? "a folder" : "a pipe, socket or device");
    }
    if (max_bytes > 0 && (int64_t)sb.st_size > max_bytes) {
        close(fd);
        return vssm_err_set(err, VSSM_ERR_FORMAT, "%s: %s holds %lld bytes, more than the %lld such a file may", path,
                            what, (long long)sb.st_size, (long long)max_bytes);
    }
    const int fl = fcntl(fd, F_GETFL); /* reads block again (a slow disk is not an error) */
    if (fl != -1) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    if (!(*out = fdopen(fd, "rb"))) {
        const int e = errno;
        close(fd);
        return vssm_err_set(err, VSSM_ERR_IO, "%s: cannot open %s (%s)", path, what, strerror(e));
    }
    return VSSM_OK;
}
