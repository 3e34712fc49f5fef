// Text from clients on its way out: UTF-8 checks and JSON escaping.
#pragma once

#include "core/rtmp_core.h"

// Bytes of the well-formed UTF-8 character at the start of s (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF), or 0 when there is none.
size_t rtmp_utf8_len(std::string_view s);

[[nodiscard]] bool rtmp_utf8_valid(std::string_view s);

// U+FFFD, what a byte that is not UTF-8 becomes where the output must be UTF-8.
constexpr std::string_view RTMP_UTF8_REPLACEMENT = "\xef\xbf\xbd";

// Hands v to put(std::string_view) in pieces, escaped for the inside of a JSON string:
// quotes, backslashes and control bytes escaped, bytes that are not UTF-8 replaced.
template <typename Put> void rtmp_json_escape(std::string_view v, Put put)
{
    while (!v.empty()) {
        u_char ch = (u_char)v[0];
        size_t n = 1;
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            put(std::string_view(e, 2));
        } else if (rtmp_is_control(ch)) {
            static constexpr char hex[] = "0123456789abcdef";
            char u[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            put(std::string_view(u, 6));
        } else if (ch < 0x80) {
            put(v.substr(0, 1));
        } else if ((n = rtmp_utf8_len(v)) > 0) {
            put(v.substr(0, n));
        } else {
            n = 1;
            put(RTMP_UTF8_REPLACEMENT);
        }
        v.remove_prefix(n);
    }
}
