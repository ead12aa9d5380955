/*
 * The ctest runner, shared by every test file: CHECK, a table of test
 * functions and a main that runs them.
 *
 * Every CHECK that fails prints one line
 *   FAIL <test>: <file>:<line>: <expression>
 * and the last line is always "ctest: N passed, M failed" (N and M count
 * test functions). The exit status is 0 only when M is 0. A first
 * argument runs only the tests whose names contain it. Each test starts
 * with the core's process-wide switches as the tests assume them:
 * recycling on (whatever LEXRT_NO_RECYCLE says) and no failure injection.
 */
#ifndef LEXRT_CTEST_CHECK_H
#define LEXRT_CTEST_CHECK_H

#include <stdio.h>
#include <string.h>

#include "pool.h"
#include "sysmem.h"

static const char *cur_test = "";
static int cur_failed;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            cur_failed++;                                                            \
            printf("FAIL %s: %s:%d: %s\n", cur_test, __FILE__, __LINE__, #cond);    \
            fflush(stdout);                                                          \
        }                                                                            \
    } while (0)

/* For loops that check thousands of values: stop at the first failure so a
 * single bug does not print thousands of lines. */
#define CHECK_OR_BREAK(cond)                                                         \
    if (!(cond)) {                                                                   \
        CHECK(cond);                                                                 \
        break;                                                                       \
    }

struct test {
    const char *name;
    void (*fn)(void);
};

#define T(f) {#f, f}
#define CTEST_MAIN(tests)                                                            \
    int main(int argc, char **argv)                                                  \
    {                                                                                \
        return ctest_run((tests), sizeof(tests) / sizeof(tests)[0], argc, argv);     \
    }

static inline void ctest_defaults(void)
{
    lx_sys_fail_after(-1);
    lx_set_recycling(1);
}

/* Runs the tests; returns main's exit status. */
static inline int ctest_run(const struct test *tests, size_t n, int argc, char **argv)
{
    int passed = 0, failed = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        if (argc > 1 && strstr(tests[i].name, argv[1]) == NULL)
            continue;
        ctest_defaults();
        cur_test = tests[i].name;
        cur_failed = 0;
        tests[i].fn();
        if (cur_failed)
            failed++;
        else
            passed++;
    }
    ctest_defaults();
    printf("ctest: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}

#endif
