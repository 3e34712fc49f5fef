// Helpers shared by the unit suites.
#include "test_util.h"

#include <check.h>
#include <cstdio>

std::span<const u_char> rtmp_test_hex(rtmp_pool_t *pool, const char *hex)
{
    size_t n = strlen(hex);
    auto *p = static_cast<u_char *>(rtmp_pnalloc(pool, n / 2 + 1));
    size_t len = 0;
    int hi = -1;
    for (size_t i = 0; i < n; i++) {
        char c = hex[i];
        int x = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (x < 0) {
            continue;
        }
        if (hi < 0) {
            hi = x;
        } else {
            p[len++] = (u_char)(hi << 4 | x);
            hi = -1;
        }
    }
    return {p, len};
}

std::span<const u_char> rtmp_test_file(rtmp_pool_t *pool, const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != nullptr, "cannot open %s (run from the repository root)", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    auto *p = static_cast<u_char *>(rtmp_pnalloc(pool, (size_t)len + 1));
    size_t n = fread(p, 1, (size_t)len, f);
    fclose(f);
    ck_assert_uint_eq(n, (size_t)len);
    return {p, n};
}
