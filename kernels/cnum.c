/* kernels/cnum.c - strtod and snprintf in the C locale (kernels/cnum.h). */
#include "kernels/cnum.h"
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* the C locale made the calling thread's; *c gets the object to free (0 when none was made) */
static locale_t c_begin(locale_t *c) {
    *c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    return *c ? uselocale(*c) : (locale_t)0; /* out of memory: the thread's own locale stays */
}

static void c_end(locale_t c, locale_t old) {
    if (!c) return;
    uselocale(old);
    freelocale(c);
}

double vssm_strtod_c(const char *s, char **end) {
    locale_t c, old = c_begin(&c);
    const double d = strtod(s, end);
    c_end(c, old);
    return d;
}

int vssm_snprintf_c(char *buf, size_t n, const char *fmt, ...) {
    locale_t c, old = c_begin(&c);
    va_list ap;
    va_start(ap, fmt);
    const int r = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    c_end(c, old);
    return r;
}
