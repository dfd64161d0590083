/* tests/test_pth_full.c - a full-size vmamba-tiny checkpoint (30M parameters, model and
 * model_ema) written by torch.save during the test, read back bit-identically and named.
 * Skipped (77) when /usr/bin/python3 has no torch. Label: slow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "testutil.h"
#include "test_weights_util.h"
#include "vssm/infer.h"
#include "vssm/weights.h"

int main(void) {
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) test_skip("/usr/bin/python3 has no torch");
    char dir[256], cmd[1024], pth[300], man[300];
    snprintf(dir, sizeof dir, "%s/vssm_pth_full_%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/reference/gen_pth_fixtures.py --full %s", VSSM_SOURCE_DIR,
             dir);
    TEST_REQUIRE(system(cmd) == 0, "fixture generation failed: %s", cmd);
    snprintf(pth, sizeof pth, "%s/vssm1_tiny_full.pth", dir);
    snprintf(man, sizeof man, "%s/vssm1_tiny_full.manifest", dir);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vssm_weights *w = NULL;
    vssm_err err = {0};
    TEST_REQUIRE(vssm_pth_open(&w, pth, NULL, &err) == VSSM_OK, "%s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("opened %s in %.0f ms\n", pth,
           1e3 * (double)(t1.tv_sec - t0.tv_sec) + 1e-6 * (double)(t1.tv_nsec - t0.tv_nsec));
    test_weights_check_manifest(w, man, "vssm1_tiny_full.pth [model]");
    vssm_vmamba_config c, tiny;
    TEST_CHECK(vssm_vmamba_config_infer(vssm_weights_source(w), "", &c, &err) == VSSM_OK &&
                   !strcmp(c.arch, "vmamba-tiny") && c.num_classes == 1000,
               "arch '%s' (%s)", c.arch, err.msg);
    vssm_vmamba_config_preset(&tiny, "vmamba-tiny", &err);
    TEST_CHECK(vssm_vmamba_config_check(&tiny, vssm_weights_source(w), "", &err) == VSSM_OK, "check: %s", err.msg);
    vssm_weights_close(w);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish("test_pth_full");
}
