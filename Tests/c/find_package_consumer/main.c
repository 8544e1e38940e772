/* Uses the installed library through find_package(DupThreading). */
#include <dup_threading.h>

#include <stdio.h>
#include <string.h>

static int body(void *ctx) {
    int *ran = (int *)ctx;
    *ran = 1;
    return DT_OK;
}

int main(void) {
    dt_lock *lock;
    int ran = 0, st;
    if (dt_version() != DT_VERSION_NUMBER || strcmp(dt_version_string(), DT_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s but library %s\n", DT_VERSION_STRING, dt_version_string());
        return 1;
    }
    if (dt_lock_new(&lock) != DT_OK) return 1;
    st = dt_with_lock(lock, body, &ran);
    if (dt_lock_free(lock) != DT_OK || st != DT_OK || !ran) return 1;
    printf("consumer: libdupthreading %s OK\n", dt_version_string());
    return 0;
}
