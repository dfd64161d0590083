/* kernels/membudget.c - how much memory a plan may take (kernels/membudget.h). */
#include "kernels/membudget.h"
#include "kernels/cnum.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

size_t vssm_mem_budget(void) {
    const char *env = getenv("VSSM_MEM_BUDGET");
    if (env && *env) {
        char *end;
        double v = vssm_strtod_c(env, &end);
        const double mul = *end == 'K' || *end == 'k'   ? 1024.0
                           : *end == 'M' || *end == 'm' ? 1048576.0
                           : *end == 'G' || *end == 'g' ? 1073741824.0
                                                        : 1.0;
        if (end != env && v > 0 && v * mul < 1e18) return (size_t)(v * mul);
    }
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    double total = pages > 0 && page > 0 ? (double)pages * (double)page : 16e9; /* unknown: a laptop's */
    FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");                          /* cgroup v2; "max" when unlimited */
    if (f) {
        char line[64];
        if (fgets(line, sizeof line, f)) {
            char *end;
            const double lim = vssm_strtod_c(line, &end);
            if (end != line && lim > 0 && lim < total) total = lim;
        }
        fclose(f);
    }
    const double b = total * 0.75;
    return b >= (double)((size_t)-1) ? (size_t)-1 : (size_t)b;
}
