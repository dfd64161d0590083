/* test_cli_help: `vssm --help` lists every verb and states the one exit-code policy all
 * verbs keep (0 / 1 / 2) and the promises about files; no verb or an unknown one exits 2. */
#include <string.h>
#include "testutil.h"

int main(void) {
    static char out[1 << 15], err[1 << 14];
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' --help", VSSM_BIN);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 0, "--help exits 0 (got %d)", rc);
    const char *verbs[] = {"classify", "eval", "bench", "convert", "info", "segment", "track", "reid"};
    for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++)
        TEST_CHECK(strstr(out, verbs[i]) != NULL, "--help lists %s", verbs[i]);
    TEST_CHECK(strstr(out, "exit codes") && strstr(out, "  0  success") && strstr(out, "  1  some inputs failed") &&
                   strstr(out, "  2  nothing was done"),
               "--help states the exit codes: %s", out);
    TEST_CHECK(strstr(out, "never executed") && strstr(out, "renamed into place"), "--help states the file promises");
    snprintf(cmd, sizeof cmd, "'%s'", VSSM_BIN);
    TEST_CHECK(test_run_cmd(cmd, out, sizeof out, err, sizeof err) == 2 && strstr(err, "exit codes"),
               "no verb: usage on stderr, exit 2");
    snprintf(cmd, sizeof cmd, "'%s' frobnicate", VSSM_BIN);
    TEST_CHECK(test_run_cmd(cmd, out, sizeof out, err, sizeof err) == 2 && strstr(err, "frobnicate"),
               "unknown verb: named, exit 2 (%s)", err);
    return test_finish("test_cli_help");
}
