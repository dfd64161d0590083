#include "tools/cli.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("vssm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
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
