/* tests/fuzz/fuzz_util.h - what the libFuzzer harnesses share: a per-process scratch folder
 * for readers that only take a path, and helpers to write the fuzz input (or parts of it)
 * there. Harnesses use the public API only (the headers in include/vssm).
 *
 * Each process makes its own folder (mkdtemp under $TMPDIR, default /tmp), so parallel
 * fuzzing jobs (-jobs / -workers) never share files; it is removed at exit.
 */
#ifndef VSSM_FUZZ_UTIL_H
#define VSSM_FUZZ_UTIL_H

#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fz_dir[PATH_MAX];

static inline void fz_cleanup(void) {
    if (!fz_dir[0]) return;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fz_dir);
    if (system(cmd) != 0) { /* nothing to do: a leftover folder in $TMPDIR */
    }
}

/* The scratch folder (created on first use; abort() if it cannot be, which is a setup
 * error, not a finding). */
static inline const char *fz_scratch(void) {
    if (fz_dir[0]) return fz_dir;
    const char *t = getenv("TMPDIR");
    snprintf(fz_dir, sizeof fz_dir, "%s/vssm-fuzz-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(fz_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fz_cleanup);
    return fz_dir;
}

/* path of NAME in the scratch folder, in a static buffer per slot (slot 0..7) */
static inline const char *fz_path(int slot, const char *name) {
    static char buf[8][PATH_MAX];
    snprintf(buf[slot & 7], sizeof buf[0], "%s/%s", fz_scratch(), name);
    return buf[slot & 7];
}

/* Writes n bytes to path (truncating); abort() on a write error (setup, not a finding). */
static inline void fz_write(const char *path, const void *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(path);
        abort();
    }
    const uint8_t *p = (const uint8_t *)data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            perror(path);
            abort();
        }
        p += w;
        n -= (size_t)w;
    }
    close(fd);
}

/* Splits data at every byte equal to sep into at most max parts; returns the count. A part
 * may be empty. */
static inline int fz_split(const uint8_t *data, size_t n, uint8_t sep, const uint8_t **part, size_t *len, int max) {
    int k = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n && k < max; i++) {
        if (i == n || data[i] == sep) {
            part[k] = data + start;
            len[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    return k;
}

/* A NUL-terminated heap copy (the caller frees). */
static inline char *fz_strndup(const uint8_t *data, size_t n) {
    char *s = (char *)malloc(n + 1);
    if (!s) abort();
    memcpy(s, data, n);
    s[n] = 0;
    return s;
}

/* Reads n bytes (so that ASan checks a buffer the library handed out is really that long)
 * and keeps the compiler from dropping the reads. */
static volatile uint8_t fz_sink_byte;
static inline void fz_consume(const void *p, size_t n) {
    const uint8_t *b = (const uint8_t *)p;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc ^= b[i];
    fz_sink_byte = acc;
}

#endif
