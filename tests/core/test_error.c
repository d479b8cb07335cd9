/* The error space: every code has its own message, codes are negative and
 * distinct, and unknown values are named as such. */
#define UAREA_IMPLEMENTATION
#include <uarea/error.h>
#include <criterion/criterion.h>
#include <string.h>

/* Every code of the enum, kept in step with error.h by the count check below. */
static const int codes[] = {
    UAREA_EINVAL, UAREA_ENOMEM, UAREA_EBUSY, UAREA_EAGAIN, UAREA_ETIMEDOUT,
    UAREA_ENOSYS, UAREA_ESTATE, UAREA_EIO, UAREA_ECANCELED,
    UAREA_ENOENT, UAREA_EACCES, UAREA_ENOSPC,
    UAREA_ETHREADS, UAREA_ENOTHREAD, UAREA_EJOINED, UAREA_EDEADLK,
    UAREA_EOVERFLOW, UAREA_ENOTUSER, UAREA_ELAYOUT,
    UAREA_EBADNODE, UAREA_EBADPORT, UAREA_EPORTINUSE, UAREA_ETOOMANY,
    UAREA_EMSGSIZE, UAREA_ENOTALLOWED, UAREA_EBADHANDLE, UAREA_EPEERGONE,
    UAREA_EDIRECTION, UAREA_ESTALLED, UAREA_ENODEKIND, UAREA_ENODEDIFF,
    UAREA_EIMGMAGIC, UAREA_EIMGVERSION, UAREA_EIMGLAYOUT, UAREA_EIMGBINARY,
    UAREA_EIMGTRUNC, UAREA_EIMGCRC, UAREA_EIMGBOUNDS, UAREA_EIMGTOOBIG,
    UAREA_EIMGFORMAT, UAREA_EIMGINCOMPLETE,
    UAREA_EREJECTED, UAREA_EABORTED, UAREA_ESAMENODE, UAREA_ENOCONTAINER,
    UAREA_EPROTO, UAREA_ELOST, UAREA_EPAGESLOST,
};
#define NCODES (sizeof codes / sizeof codes[0])

Test(error, every_code_is_negative_and_named)
{
    for (size_t i = 0; i < NCODES; i++) {
        const char *s = uarea_strerror(codes[i]);
        cr_assert(codes[i] < 0, "code %d is not negative", codes[i]);
        cr_assert_not_null(s);
        cr_assert_str_neq(s, "unknown error", "code %d has no message", codes[i]);
        cr_assert_str_neq(s, "success");
    }
}

Test(error, codes_and_messages_are_distinct)
{
    for (size_t i = 0; i < NCODES; i++)
        for (size_t j = i + 1; j < NCODES; j++) {
            cr_assert_neq(codes[i], codes[j]);
            cr_assert_str_neq(uarea_strerror(codes[i]), uarea_strerror(codes[j]),
                              "codes %d and %d share a message", codes[i], codes[j]);
        }
}

Test(error, table_covers_every_named_value)
{
    /* Every value from -1 to -127 that has a message must be in codes[]:
     * a code added to error.h without being added here fails. */
    size_t named = 0;
    for (int v = -1; v >= -127; v--) {
        if (strcmp(uarea_strerror(v), "unknown error") == 0) continue;
        named++;
        int found = 0;
        for (size_t i = 0; i < NCODES; i++) found |= codes[i] == v;
        cr_assert(found, "code %d (%s) missing from the test table", v, uarea_strerror(v));
    }
    cr_assert_eq(named, NCODES);
}

Test(error, success_and_unknown)
{
    cr_assert_str_eq(uarea_strerror(UAREA_OK), "success");
    cr_assert_str_eq(uarea_strerror(-10000), "unknown error");
    cr_assert_str_eq(uarea_strerror(-19), "unknown error");
    cr_assert_str_eq(uarea_strerror(7), "not an error code (positive)");
    cr_assert_str_eq(uarea_strerror(UAREA_EIMGCRC), "image CRC mismatch");
}

Test(error, retired_codes_are_unnamed_and_the_others_keep_their_numbers)
{
    /* -25 and -26 were never returned and are retired; no code moved. */
    cr_assert_str_eq(uarea_strerror(-25), "unknown error");
    cr_assert_str_eq(uarea_strerror(-26), "unknown error");
    cr_assert_eq(UAREA_EOVERFLOW, -24);
    cr_assert_eq(UAREA_ENOTUSER, -27);
    cr_assert_eq(UAREA_ELAYOUT, -28);
}
