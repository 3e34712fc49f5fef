// libFuzzer harness: arbitrary bytes as pipelined HTTP request heads, and as Range values.
#include "http/rtmp_http_parse.h"

static void fuzz_check(bool ok)
{
    if (!ok) {
        __builtin_trap();
    }
}

static rtmp_http_request_t req;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    // the first byte picks the head limit, as max_header_size would
    size_t max = size ? 64 + (size_t)data[0] * 32 : 64;
    std::span<const u_char> in(data, size);
    if (size) {
        in = in.subspan(1);
    }
    // requests one after another, as a keep-alive connection consumes them
    for (int n = 0; n < 64 && !in.empty(); n++) {
        std::span<const u_char> window = in.first(in.size() < max ? in.size() : max);
        rtmp_int_t rc = rtmp_http_parse_request(window, max, &req);
        if (rc == RTMP_AGAIN) {
            fuzz_check(window.size() < max);
            break;
        }
        if (rc == RTMP_ERROR) {
            fuzz_check(req.status >= 400 && req.status <= 505 && req.error != nullptr);
            break;
        }
        fuzz_check(rc == RTMP_OK && req.header_len > 0 && req.header_len <= window.size());
        // a path that got through is one a file may be opened with
        std::string_view p(req.path, req.path_len);
        fuzz_check(p.size() == strlen(req.path) && !p.empty() && p.front() == '/');
        fuzz_check(p.find("/../") == std::string_view::npos &&
                   p.find("//") == std::string_view::npos &&
                   p.find('\\') == std::string_view::npos);
        fuzz_check(!(p.size() >= 3 && p.substr(p.size() - 3) == "/.."));
        if (req.has_range) {
            uint64_t first = 0, last = 0;
            for (uint64_t size2 : {(uint64_t)0, (uint64_t)1, (uint64_t)1000, UINT64_MAX / 2}) {
                if (rtmp_http_parse_range(req.range, size2, &first, &last) == RTMP_OK) {
                    fuzz_check(first <= last && last < size2);
                }
            }
        }
        in = in.subspan(req.header_len);
    }
    return 0;
}
