/*
 * tests/cross/criterion/criterion.h - the part of Criterion's interface the
 * POSIX runtime's tests use, for builds where Criterion is not there: the
 * cross builds that run those tests on other CPUs under qemu-user
 * (tests/cross/). The same test sources compile against either.
 *
 *   Test(suite, name, .timeout = 60) { cr_assert_eq(a, b, "why %d", x); }
 *
 * Each test runs in a child process of its own (a crash or a failed
 * assertion fails that test only) with an alarm at its timeout (60 s when
 * none). The program runs every test, or those whose "suite/name" matches
 * --filter PATTERN (fnmatch), prints a line per test and a synthesis, and
 * exits 1 when one failed. A failed assertion prints the expression and the
 * message and ends the test. Other Criterion options (--jobs, ...) are
 * accepted and ignored.
 */
#ifndef UAREA_TESTS_CRITERION_LITE_H
#define UAREA_TESTS_CRITERION_LITE_H

#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct crl_opts {
    double timeout;
    int crl_end;
};

struct crl_test {
    const char *suite, *name;
    void (*fn)(void);
    struct crl_opts opts;
    struct crl_test *next;
};

static struct crl_test *crl_first, **crl_last = &crl_first;

static void crl_register(struct crl_test *t)
{
    *crl_last = t;
    crl_last = &t->next;
}

#define Test(...) CRL_TEST_(__VA_ARGS__, .crl_end = 0)
#define CRL_TEST_(suite, name, ...)                                                        \
    static void crl_fn_##suite##_##name(void);                                             \
    static struct crl_test crl_t_##suite##_##name = {#suite, #name, crl_fn_##suite##_##name, \
                                                     {__VA_ARGS__}, NULL};                 \
    __attribute__((constructor)) static void crl_reg_##suite##_##name(void)                \
    {                                                                                      \
        crl_register(&crl_t_##suite##_##name);                                             \
    }                                                                                      \
    static void crl_fn_##suite##_##name(void)

/* Not format-checked: each message is followed by an extra "" (the way the
 * macros below take an optional message in ISO C), which printf ignores. */
__attribute__((unused)) static void crl_check(int ok, const char *expr, const char *file, int line,
                                              const char *fmt, ...)
{
    va_list ap;
    if (ok) return;
    fprintf(stderr, "%s:%d: Assertion failed: %s\n  ", file, line, expr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fflush(NULL);
    _exit(1);
}

#define CRL_CHECK_(ok, expr, ...) crl_check((ok), expr, __FILE__, __LINE__, __VA_ARGS__)
#define cr_assert(...) CRL_1_(__VA_ARGS__, "")
#define CRL_1_(c, ...) CRL_CHECK_(!!(c), #c, __VA_ARGS__)
#define cr_assert_null(...) CRL_N_(__VA_ARGS__, "")
#define CRL_N_(p, ...) CRL_CHECK_((p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(...) CRL_NN_(__VA_ARGS__, "")
#define CRL_NN_(p, ...) CRL_CHECK_((p) != NULL, #p " != NULL", __VA_ARGS__)
#define CRL_CMP_(op, a, b, ...) CRL_CHECK_((a)op(b), #a " " #op " " #b, __VA_ARGS__)
#define cr_assert_eq(...) CRL_EQ_(__VA_ARGS__, "")
#define CRL_EQ_(a, b, ...) CRL_CMP_(==, a, b, __VA_ARGS__)
#define cr_assert_neq(...) CRL_NE_(__VA_ARGS__, "")
#define CRL_NE_(a, b, ...) CRL_CMP_(!=, a, b, __VA_ARGS__)
#define cr_assert_lt(...) CRL_LT_(__VA_ARGS__, "")
#define CRL_LT_(a, b, ...) CRL_CMP_(<, a, b, __VA_ARGS__)
#define cr_assert_gt(...) CRL_GT_(__VA_ARGS__, "")
#define CRL_GT_(a, b, ...) CRL_CMP_(>, a, b, __VA_ARGS__)
#define cr_assert_leq(...) CRL_LE_(__VA_ARGS__, "")
#define CRL_LE_(a, b, ...) CRL_CMP_(<=, a, b, __VA_ARGS__)
#define cr_assert_geq(...) CRL_GE_(__VA_ARGS__, "")
#define CRL_GE_(a, b, ...) CRL_CMP_(>=, a, b, __VA_ARGS__)
#define cr_log_info(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr))
#define cr_skip_test(...) (fprintf(stderr, "skipped: " __VA_ARGS__), fputc('\n', stderr), fflush(NULL), _exit(77))

int main(int argc, char **argv)
{
    const char *filter = NULL;
    int tested = 0, passed = 0, failed = 0, skipped = 0;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) filter = argv[++i];
    for (struct crl_test *t = crl_first; t != NULL; t = t->next) {
        char full[256];
        int status = 0;
        unsigned limit = t->opts.timeout > 0 ? (unsigned)t->opts.timeout : 60u;
        snprintf(full, sizeof full, "%s/%s", t->suite, t->name);
        if (filter != NULL && fnmatch(filter, full, 0) != 0) continue;
        fflush(NULL);
        pid_t p = fork();
        if (p == 0) {
            alarm(limit);
            t->fn();
            fflush(NULL);
            _exit(0);
        }
        tested++;
        if (p < 0 || waitpid(p, &status, 0) != p) status = 1 << 8;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            passed++;
            printf("[PASS] %s::%s\n", t->suite, t->name);
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
            skipped++;
            printf("[SKIP] %s::%s\n", t->suite, t->name);
        } else {
            failed++;
            if (WIFSIGNALED(status))
                printf("[FAIL] %s::%s: %s\n", t->suite, t->name,
                       WTERMSIG(status) == SIGALRM ? "timed out" : strsignal(WTERMSIG(status)));
            else
                printf("[FAIL] %s::%s\n", t->suite, t->name);
        }
        fflush(stdout);
    }
    printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Skipped: %d\n", tested, passed,
           failed, skipped);
    return failed ? 1 : 0;
}

#endif /* UAREA_TESTS_CRITERION_LITE_H */
