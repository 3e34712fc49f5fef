// Number, size and time parsing for configuration values and protocol text; UTF-8 checks.
#include "core/rtmp_core.h"
#include "core/rtmp_text.h"

#include <climits>

int64_t rtmp_atoi(std::string_view s)
{
    if (s.empty()) {
        return RTMP_ERROR;
    }
    int64_t v = 0;
    for (char ch : s) {
        if (ch < '0' || ch > '9') {
            return RTMP_ERROR;
        }
        if (v > (INT64_MAX - (ch - '0')) / 10) {
            return RTMP_ERROR;
        }
        v = v * 10 + (ch - '0');
    }
    return v;
}

// Splits a trailing unit off `s` and scales the number by the unit's factor.
static int64_t rtmp_parse_scaled(std::string_view s, std::string_view unit, int64_t scale)
{
    if (!unit.empty()) {
        s.remove_suffix(unit.size());
    }
    int64_t v = rtmp_atoi(s);
    if (v < 0 || v > INT64_MAX / scale) {
        return -1;
    }
    return v * scale;
}

int64_t rtmp_parse_size(std::string_view s)
{
    if (s.empty()) {
        return -1;
    }
    switch (s.back()) {
    case 'k':
    case 'K':
        return rtmp_parse_scaled(s, s.substr(s.size() - 1), 1024);
    case 'm':
    case 'M':
        return rtmp_parse_scaled(s, s.substr(s.size() - 1), 1024 * 1024);
    case 'g':
    case 'G':
        return rtmp_parse_scaled(s, s.substr(s.size() - 1), 1024 * 1024 * 1024);
    default:
        return rtmp_parse_scaled(s, {}, 1);
    }
}

int64_t rtmp_parse_time(std::string_view s)
{
    static constexpr struct {
        std::string_view unit;
        int64_t msec;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};

    for (const auto &u : units) {
        if (s.size() > u.unit.size() && s.ends_with(u.unit)) {
            std::string_view num = s.substr(0, s.size() - u.unit.size());
            if (num.back() >= '0' && num.back() <= '9') {
                return rtmp_parse_scaled(s, u.unit, u.msec);
            }
        }
    }
    return rtmp_parse_scaled(s, {}, 1000); // a bare number is seconds, as in nginx
}

std::string_view rtmp_query_arg(std::string_view args, std::string_view key, bool *found)
{
    while (!args.empty()) {
        size_t amp = args.find('&');
        std::string_view param = args.substr(0, amp);
        args = amp == std::string_view::npos ? std::string_view() : args.substr(amp + 1);
        size_t eq = param.find('=');
        if (param.substr(0, eq) == key) {
            if (found) {
                *found = true;
            }
            return eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
        }
    }
    if (found) {
        *found = false;
    }
    return {};
}

size_t rtmp_utf8_len(std::string_view s)
{
    if (s.empty()) {
        return 0;
    }
    auto b = [&s](size_t i) { return (u_char)s[i]; };
    u_char c = b(0);
    if (c < 0x80) {
        return 1;
    }
    size_t n = c >= 0xc2 && c <= 0xdf   ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    if (n == 0 || s.size() < n) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((b(i) & 0xc0) != 0x80) {
            return 0;
        }
    }
    // the second byte's range rules out overlong forms, surrogates and > U+10FFFF
    u_char c1 = b(1);
    if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f) || (c == 0xf0 && c1 < 0x90) ||
        (c == 0xf4 && c1 > 0x8f)) {
        return 0;
    }
    return n;
}

bool rtmp_utf8_valid(std::string_view s)
{
    while (!s.empty()) {
        size_t n = rtmp_utf8_len(s);
        if (n == 0) {
            return false;
        }
        s.remove_prefix(n);
    }
    return true;
}
