/* test_cli_help: `vssm --help` lists every verb and states the one exit-code policy all
 * verbs keep (0 / 1 / 2) and the promises about files; no verb or an unknown one exits 2.
 * Every verb's --help exits 0 and, after its usage lines, gives a one-line description (a
 * sentence) and an example line running that verb; every verb words an unknown option the
 * same way (cli_bad_arg) and exits 2. */
#include <ctype.h>
#include <string.h>
#include "testutil.h"

static char out[1 << 15], err[1 << 14];

/* The line after the usage block (lines starting "usage:" or blank-indented), or NULL. */
static const char *after_usage(const char *s) {
    if (strncmp(s, "usage: ", 7)) return NULL;
    while (*s && (!strncmp(s, "usage: ", 7) || *s == ' ')) {
        const char *nl = strchr(s, '\n');
        if (!nl) return NULL;
        s = nl + 1;
    }
    return s;
}

static void check_verb_help(const char *verb, const char *example_verb) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' %s --help", VSSM_BIN, verb);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 0, "%s --help exits 0 (got %d)", verb, rc);
    const char *d = after_usage(out), *nl = d ? strchr(d, '\n') : NULL;
    int desc = d && nl && isupper((unsigned char)d[0]) && nl[-1] == '.' && nl - d < 110;
    TEST_CHECK(desc, "%s --help: a one-line description (a sentence) after the usage: %.200s", verb, out);
    char ex[128];
    snprintf(ex, sizeof ex, "example: vssm %s ", example_verb);
    TEST_CHECK(nl && !strncmp(nl + 1, ex, strlen(ex)), "%s --help: '%s...' after the description: %.300s", verb, ex,
               out);
}

static void check_unknown_option(const char *verb) {
    char cmd[512], want[256];
    snprintf(cmd, sizeof cmd, "'%s' %s --frobnicate x", VSSM_BIN, verb);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    snprintf(want, sizeof want, "vssm: %s: unknown option '--frobnicate' (vssm %s --help lists the options)", verb,
             verb);
    TEST_CHECK(rc == 2 && strstr(err, want), "%s --frobnicate: exit 2 (got %d) and '%s': %.300s", verb, rc, want, err);
}

int main(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' --help", VSSM_BIN);
    int rc = test_run_cmd(cmd, out, sizeof out, err, sizeof err);
    TEST_CHECK(rc == 0, "--help exits 0 (got %d)", rc);
    const char *verbs[] = {"classify", "eval", "bench", "convert", "info", "segment", "track", "reid", "train"};
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

    /* every verb and eval task: its help, and one wording for an unknown option */
    const char *each[] = {"classify",   "bench",        "convert",        "info",          "segment",
                          "track",      "reid extract", "train",          "eval classify", "eval seg",
                          "eval track", "eval reid",    "eval attributes"};
    for (size_t i = 0; i < sizeof each / sizeof *each; i++) {
        check_verb_help(each[i], each[i]);
        check_unknown_option(each[i]);
    }
    check_verb_help("eval", "eval");
    return test_finish("test_cli_help");
}
