/* Version, status strings and threading support. */
#include "harness.h"

static void test_version(void) {
    CHECK_EQ(dt_version(), DT_VERSION_NUMBER);
    CHECK_EQ(DT_VERSION_NUMBER, DT_VERSION_MAJOR * 10000 + DT_VERSION_MINOR * 100 + DT_VERSION_PATCH);
    CHECK(dt_version_string() != NULL);
    CHECK(dt_version_string() && strcmp(dt_version_string(), DT_VERSION_STRING) == 0);
    CHECK(dt_version_string() == dt_version_string()); /* static: same pointer */
}

static void test_strerror(void) {
    const char *unknown = dt_strerror(12345);
    int codes[] = {DT_OK, DT_EINVAL, DT_EBADHANDLE, DT_ENOTOWNER, DT_ENOTLOCKED, DT_EBUSY,
                   DT_ETIMEDOUT, DT_EINTERRUPTED, DT_EALREADY, DT_EFAILED, DT_ENOTSUP, DT_ENOMEM,
                   DT_EABANDONED};
    size_t n = sizeof codes / sizeof codes[0], i, j;
    CHECK(unknown != NULL && strcmp(unknown, "unknown status") == 0);
    CHECK(dt_strerror(-1) != NULL && strcmp(dt_strerror(-1), "unknown status") == 0);
    CHECK(dt_strerror(13) != NULL && strcmp(dt_strerror(13), "unknown status") == 0);
    for (i = 0; i < n; i++) {
        const char *s = dt_strerror(codes[i]);
        CHECK_EQ(codes[i], (int)i); /* the enum is dense 0..12 */
        CHECK(s != NULL && *s != '\0');
        CHECK(s != NULL && strcmp(s, "unknown status") != 0);
        for (j = 0; j < i; j++) CHECK(s && strcmp(s, dt_strerror(codes[j])) != 0); /* distinct */
    }
}

/* Fills buf with 'X' and checks what dt_require_threading left there:
 * nothing past `size`, and a NUL within `size` if anything was written. */
static void check_message(const char *reason, size_t size) {
    char buf[64];
    size_t i;
    int wrote = 0, nul = 0;
    memset(buf, 'X', sizeof buf);
    CHECK_ST(dt_require_threading(reason, buf, size), DT_OK);
    for (i = size; i < sizeof buf; i++) CHECK(buf[i] == 'X');
    for (i = 0; i < size; i++) {
        if (buf[i] != 'X') wrote = 1;
        if (buf[i] == '\0') nul = 1;
    }
    CHECK(!wrote || nul);
}

static void test_threading(void) {
    CHECK_EQ(dt_threading_supported(), 1);
    CHECK_ST(dt_require_threading(NULL, NULL, 0), DT_OK);
    CHECK_ST(dt_require_threading("reason", NULL, 0), DT_OK);
    CHECK_ST(dt_require_threading("reason", NULL, 16), DT_EINVAL);
    CHECK_ST(dt_require_threading(NULL, NULL, 1), DT_EINVAL);
    /* Threads are supported here, so the message path (truncation) cannot
     * be reached; at least nothing may be written outside the buffer. */
    check_message("a rather long reason that would not fit", 1);
    check_message("a rather long reason that would not fit", 4);
    check_message(NULL, 8);
    check_message("short", 64);
}

int main(void) {
    th_begin("basics");
    test_version();
    test_strerror();
    test_threading();
    return th_end();
}
