// The access module: who may publish and play, by client address, first matching rule wins.
#pragma once

#include "core/rtmp_module.h"
#include "rtmp/rtmp_session.h"

#include <sys/socket.h>

enum class rtmp_access_action : uint8_t { publish, play };

// One "allow|deny publish|play ADDRESS" rule. ADDRESS is "all", an address or a CIDR
// block; IPv4-mapped IPv6 forms (::ffff:a.b.c.d) are stored as the IPv4 rule they mean.
struct rtmp_access_rule_t {
    bool allow;
    rtmp_access_action action;
    uint8_t family;  // AF_INET, AF_INET6, or AF_UNSPEC for "all"
    u_char addr[16]; // network byte order, host bits zero
    u_char mask[16];
    const char *text; // the rule as a string, for log lines
    const char *file; // where it was written
    int line;
};

// The rules of one action, in the order they appear in the block.
struct rtmp_access_rules_t {
    rtmp_access_rule_t *rules;
    size_t n;
};

// Publish and play rules are inherited separately: a block with only play rules keeps the
// outer block's publish rules.
struct rtmp_access_app_conf_t {
    rtmp_access_rules_t publish;
    rtmp_access_rules_t play;
};

extern rtmp_module_t rtmp_access_module;

inline rtmp_access_app_conf_t *rtmp_access_app_conf(rtmp_conf_app_t *app)
{
    return static_cast<rtmp_access_app_conf_t *>(app->app_conf[rtmp_access_module.index]);
}

// Parses "allow publish 10.0.0.0/8" into r (text, file and line are left to the caller);
// nullptr, or what is wrong written into err.
[[nodiscard]] const char *rtmp_access_parse_rule(std::string_view text, rtmp_access_rule_t *r,
                                                 char *err, size_t len);

// Parses the ADDRESS part ("all", "10.0.0.0/8", "::1", "fd00::/8") into r's family,
// address and mask; nullptr, or what is wrong written into err.
[[nodiscard]] const char *rtmp_access_parse_addr(std::string_view text, rtmp_access_rule_t *r,
                                                 char *err, size_t len);

// The first rule that matches the peer, or nullptr when none does (which allows).
// Only IPv4 and IPv6 peers are matched: a unix-socket peer matches nothing.
const rtmp_access_rule_t *rtmp_access_match(const rtmp_access_rules_t *rules,
                                            const struct sockaddr *sa);
