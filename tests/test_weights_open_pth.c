/* tests/test_weights_open_pth.c - vssm_weights_open must read a .pth in a program that only
 * calls the generic opener (a weak reference to vssm_pth_open does not pull pth.o out of
 * the static library, so such a program would refuse every .pth). */
#include <stdlib.h>
#include "testutil.h"
#include "vssm/weights.h"

int main(void) {
    char *p = test_data_path("weights/mixed.pth");
    vssm_weights *w = NULL;
    vssm_err err = {0};
    TEST_CHECK(vssm_weights_open(&w, p, NULL, &err) == VSSM_OK && vssm_weights_count(w) == 20,
               "vssm_weights_open(mixed.pth): %s", err.msg);
    vssm_weights_close(w);
    free(p);
    return test_finish("test_weights_open_pth");
}
