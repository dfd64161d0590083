#include "tools/cli.h"
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_escape_byte(unsigned char c, char out[5]) {
    static const char names[] = "abtnvfr"; /* \a \b \t \n \v \f \r: bytes 7 .. 13 */
    if (c >= 7 && c <= 13) return snprintf(out, 5, "\\%c", names[c - 7]);
    if (c < 0x20 || c == 0x7f) return snprintf(out, 5, "\\x%02x", c);
    return 0;
}

/* cli_defer_begin .. cli_defer_end: the lines cli_error would write, kept (tools/cli.h) */
static struct {
    int on;
    char *buf;
    size_t n;
} g_defer;

void cli_defer_begin(void) {
    free(g_defer.buf);
    g_defer.buf = NULL;
    g_defer.n = 0;
    g_defer.on = 1;
}

char *cli_defer_end(void) {
    char *b = g_defer.buf;
    g_defer.buf = NULL;
    g_defer.n = 0;
    g_defer.on = 0;
    return b;
}

static void write_line(const char *line, size_t n) {
    if (!g_defer.on) {
        fwrite(line, 1, n, stderr);
        return;
    }
    char *b = realloc(g_defer.buf, g_defer.n + n + 1);
    if (!b) { /* out of memory: said now rather than lost */
        fwrite(line, 1, n, stderr);
        return;
    }
    memcpy(b + g_defer.n, line, n);
    g_defer.n += n;
    b[g_defer.n] = 0;
    g_defer.buf = b;
}

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cli_verror(fmt, ap);
    va_end(ap);
}

void cli_verror(const char *fmt, va_list ap) {
    /* one write for the whole line: under mpirun the ranks' lines never interleave mid-line */
    char small[1024], *line = small;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small + 6, sizeof small - 7, fmt, ap);
    if (n < 0) n = 0;
    if ((size_t)n > sizeof small - 8) { /* a long one (paths of 4 KB): its own buffer */
        char *big = malloc((size_t)n + 8);
        if (big && vsnprintf(big + 6, (size_t)n + 1, fmt, ap2) >= 0)
            line = big;
        else
            free(big), n = (int)(sizeof small - 8); /* out of memory: the line cut short, still ended */
    }
    va_end(ap2);
    memcpy(line, "vssm: ", 6);
    line[6 + n] = '\n';
    /* a file name's control bytes (a newline, an ESC sequence a terminal would act on) as C
     * escapes: one message stays one line and a name cannot rewrite the screen */
    size_t ctl = 0;
    for (int k = 6; k < 6 + n; k++) ctl += (unsigned char)line[k] < 0x20 || line[k] == 0x7f;
    char *esc = ctl ? malloc((size_t)n + 7 + 3 * ctl) : NULL;
    if (esc) {
        size_t o = 0;
        for (int k = 0; k < 6 + n; k++) {
            const int e = k >= 6 ? cli_escape_byte((unsigned char)line[k], esc + o) : 0;
            if (e)
                o += (size_t)e;
            else
                esc[o++] = line[k];
        }
        esc[o++] = '\n';
        write_line(esc, o);
        free(esc);
    } else {
        write_line(line, (size_t)n + 7);
    }
    if (line != small) free(line);
}

void cli_bad_arg(const char *verb, const char *arg) {
    cli_error("%s: %s '%s' (vssm %s --help lists the options)", verb,
              arg[0] == '-' && arg[1] ? "unknown option" : "unexpected argument", arg, verb);
}

int cli_opt_str(int argc, char **argv, int *i, const char *opt, const char **out, int *bad) {
    size_t n = strlen(opt);
    const char *a = argv[*i];
    if (strncmp(a, opt, n) != 0) return 0;
    if (a[n] == '=') {
        *out = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) {
        cli_error("option %s needs a value", opt);
        *bad = 1;
        return 1;
    }
    *out = argv[++*i];
    return 1;
}

int cli_opt_int(int argc, char **argv, int *i, const char *opt, int *out, int *bad) {
    const char *s = NULL;
    if (!cli_opt_str(argc, argv, i, opt, &s, bad)) return 0;
    if (*bad) return 1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < -2147483647L || v > 2147483647L) {
        cli_error("option %s needs an integer, got '%s'", opt, s);
        *bad = 1;
        return 1;
    }
    *out = (int)v;
    return 1;
}

int cli_opt_flag(char **argv, int i, const char *opt, int *out) {
    if (strcmp(argv[i], opt) != 0) return 0;
    *out = 1;
    return 1;
}

int cli_parse_size(const char *s, int *h, int *w) {
    char *end;
    long a = strtol(s, &end, 10);
    if (end == s || a <= 0 || a > 1 << 16) return 0;
    if (*end == '\0') {
        *h = *w = (int)a;
        return 1;
    }
    if (*end != 'x' && *end != 'X') return 0;
    const char *s2 = end + 1;
    long b = strtol(s2, &end, 10);
    if (end == s2 || *end || b <= 0 || b > 1 << 16) return 0;
    *h = (int)a;
    *w = (int)b;
    return 1;
}

/* ---- outputs: signals held during writes (cli.h) ---- */

/* the process's signal state: tools/ only (the library keeps none) */
static atomic_int g_writes, g_pending;

static void on_signal(int sig) {
    atomic_store(&g_pending, sig);
    if (atomic_load(&g_writes) == 0) { /* re-checked after the store: cli_write_end may have just run */
        signal(sig, SIG_DFL);
        raise(sig); /* acts when the handler returns (the signal is blocked inside it) */
    }
}

void cli_signals_install(void) {
    /* SIGPIPE: stdout's reader went away (`vssm ... | head -1`) while an output was written */
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    /* past a file size limit (ulimit -f) the write fails with EFBIG and the writer's error path
     * removes its temp file; the default action killed the process and left it */
    signal(SIGXFSZ, SIG_IGN);
    for (int i = 0; i < 4; i++) sigaddset(&sa.sa_mask, sigs[i]);
    for (int i = 0; i < 4; i++)
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN) sigaction(sigs[i], &sa, NULL);
}

void cli_write_begin(void) { atomic_fetch_add(&g_writes, 1); }

void cli_write_end(void) {
    if (atomic_fetch_sub(&g_writes, 1) != 1) return; /* another write is still under way */
    const int sig = atomic_load(&g_pending);
    if (sig) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

int cli_check_out_file(const char *verb, const char *path, const char *opt) {
    const size_t n = strlen(path);
    struct stat st;
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!n || path[n - 1] == '/' || (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
        cli_error("%s: %s '%s' names a folder, not a file", verb, opt, path);
        return VSSM_EXIT_USAGE;
    }
    if (n + 8 > sizeof dir) {
        cli_error("%s: %s '%s': the path is too long", verb, opt, path);
        return VSSM_EXIT_USAGE;
    }
    snprintf(dir, sizeof dir, "%.*s", slash ? (slash == path ? 1 : (int)(slash - path)) : 1, slash ? path : ".");
    const int rs = stat(dir, &st), e0 = errno;
    if (rs != 0 || !S_ISDIR(st.st_mode)) {
        cli_error("%s: %s %s: %s %s", verb, opt, path, dir,
                  rs ? (e0 == ENOENT ? "does not exist" : strerror(e0)) : "is not a folder");
        return VSSM_EXIT_USAGE;
    }
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) { /* /dev/null and the like: written in place */
        if (access(path, W_OK) == 0) return 0;
        cli_error("%s: %s %s: cannot write it (%s)", verb, opt, path, strerror(errno));
        return VSSM_EXIT_USAGE;
    }
    char probe[4096 + 8];
    snprintf(probe, sizeof probe, "%s.XXXXXX", path); /* what the writer creates, then renames */
    cli_write_begin();
    const int fd = mkstemp(probe), e = errno;
    if (fd >= 0) close(fd), unlink(probe);
    cli_write_end();
    if (fd < 0) {
        cli_error("%s: %s %s: cannot create a file in %s (%s)", verb, opt, path, dir, strerror(e));
        return VSSM_EXIT_USAGE;
    }
    return 0;
}

int cli_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int cli_path_inside(const char *path, const char *dir) {
    char rd[PATH_MAX], rp[PATH_MAX], cur[PATH_MAX];
    if (!path || !dir || !realpath(dir, rd)) return 0;
    if (snprintf(cur, sizeof cur, "%s", path) >= (int)sizeof cur) return 0;
    /* the nearest existing ancestor of path (path itself when it exists) */
    while (!realpath(cur, rp)) {
        char *s = strrchr(cur, '/');
        if (!s) {
            if (!realpath(".", rp)) return 0;
            break;
        }
        if (s == cur) {
            snprintf(rp, sizeof rp, "/");
            break;
        }
        *s = 0;
    }
    const size_t n = strlen(rd);
    if (n == 1) return 1; /* dir is / */
    return !strncmp(rp, rd, n) && (rp[n] == 0 || rp[n] == '/');
}

int cli_check_output(const char *verb, const char *path, const char *opt, const char *const *inputs, int n,
                     const char *const *dirs, int n_dirs) {
    for (int i = 0; i < n; i++)
        if (inputs[i] && cli_same_file(path, inputs[i])) {
            cli_error("%s: %s %s is the input %s: it would be overwritten", verb, opt, path, inputs[i]);
            return VSSM_EXIT_USAGE;
        }
    for (int i = 0; i < n_dirs; i++)
        if (dirs[i] && cli_path_inside(path, dirs[i])) {
            cli_error("%s: %s %s lies inside the input folder %s (a later run would read it as an input)", verb, opt,
                      path, dirs[i]);
            return VSSM_EXIT_USAGE;
        }
    return cli_check_out_file(verb, path, opt);
}
