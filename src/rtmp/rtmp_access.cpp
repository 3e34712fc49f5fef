// The access module: allow/deny rules by client address for publish and play, first match wins.
#include "rtmp/rtmp_access.h"
#include "rtmp/rtmp_relay.h"

#include <arpa/inet.h>
#include <cstdio>
#include <netinet/in.h>

static rtmp_publish_pt rtmp_access_next_publish;
static rtmp_play_pt rtmp_access_next_play;

// ---- rules ---------------------------------------------------------------------------------

static bool rtmp_access_v4_mapped(const u_char *a)
{
    static constexpr u_char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a, prefix, sizeof(prefix)) == 0;
}

const char *rtmp_access_parse_addr(std::string_view text, rtmp_access_rule_t *r, char *err,
                                   size_t len)
{
    memset(r->addr, 0, sizeof(r->addr));
    memset(r->mask, 0, sizeof(r->mask));
    if (text == "all") {
        r->family = AF_UNSPEC;
        return nullptr;
    }
    size_t slash = text.find('/');
    std::string_view host = text.substr(0, slash);
    char buf[INET6_ADDRSTRLEN + 1];
    int bits = 0;
    if (!host.empty() && host.size() < sizeof(buf)) {
        memcpy(buf, host.data(), host.size());
        buf[host.size()] = '\0';
        if (inet_pton(AF_INET, buf, r->addr) == 1) {
            r->family = AF_INET;
            bits = 32;
        } else if (inet_pton(AF_INET6, buf, r->addr) == 1) {
            r->family = AF_INET6;
            bits = 128;
        }
    }
    if (bits == 0) {
        snprintf(err, len, "\"%.*s\" is not an IPv4 or IPv6 address, a CIDR block or \"all\"",
                 (int)text.size(), text.data());
        return err;
    }
    int64_t prefix = bits;
    if (slash != std::string_view::npos) {
        prefix = rtmp_atoi(text.substr(slash + 1));
        if (prefix < 0 || prefix > bits) {
            snprintf(err, len, "\"%.*s\": the prefix length after '/' must be 0..%d",
                     (int)text.size(), text.data(), bits);
            return err;
        }
    }
    // ::ffff:a.b.c.d is how a dual-stack socket shows an IPv4 peer: the same rule as a.b.c.d
    if (r->family == AF_INET6 && prefix >= 96 && rtmp_access_v4_mapped(r->addr)) {
        memmove(r->addr, r->addr + 12, 4);
        memset(r->addr + 4, 0, 12);
        r->family = AF_INET;
        bits = 32;
        prefix -= 96;
    }
    for (int i = 0; i < bits / 8; i++) {
        int left = (int)prefix - i * 8;
        r->mask[i] = left >= 8 ? 0xff : left <= 0 ? 0 : (u_char)(0xff << (8 - left));
    }
    for (int i = 0; i < bits / 8; i++) {
        if (r->addr[i] & ~r->mask[i]) {
            // as nginx warns "low address bits are meaningless": refuse, since 10.1.2.3/8
            // more likely means a typo than the whole 10.0.0.0/8
            u_char net[16];
            for (int k = 0; k < 16; k++) {
                net[k] = r->addr[k] & r->mask[k];
            }
            char shown[INET6_ADDRSTRLEN];
            inet_ntop(r->family == AF_INET ? AF_INET : AF_INET6, net, shown, sizeof(shown));
            snprintf(err, len, "\"%.*s\" has bits set beyond its /%d prefix (the network is %s/%d)",
                     (int)text.size(), text.data(), (int)prefix, shown, (int)prefix);
            return err;
        }
    }
    return nullptr;
}

// Splits off the next word; the rest is left in *s.
static std::string_view rtmp_access_word(std::string_view *s)
{
    size_t start = s->find_first_not_of(" \t");
    if (start == std::string_view::npos) {
        *s = {};
        return {};
    }
    s->remove_prefix(start);
    size_t end = s->find_first_of(" \t");
    std::string_view w = s->substr(0, end);
    s->remove_prefix(end == std::string_view::npos ? s->size() : end);
    return w;
}

const char *rtmp_access_parse_rule(std::string_view text, rtmp_access_rule_t *r, char *err,
                                   size_t len)
{
    std::string_view rest = text;
    std::string_view verb = rtmp_access_word(&rest);
    std::string_view action = rtmp_access_word(&rest);
    std::string_view addr = rtmp_access_word(&rest);
    if (addr.empty() || !rtmp_access_word(&rest).empty()) {
        snprintf(err, len, "rule \"%.*s\" must read \"allow|deny publish|play ADDRESS\"",
                 (int)text.size(), text.data());
        return err;
    }
    if (verb != "allow" && verb != "deny") {
        snprintf(err, len, "rule \"%.*s\" must start with \"allow\" or \"deny\", not \"%.*s\"",
                 (int)text.size(), text.data(), (int)verb.size(), verb.data());
        return err;
    }
    if (action != "publish" && action != "play") {
        snprintf(err, len, "rule \"%.*s\": \"%.*s\" must be \"publish\" or \"play\"",
                 (int)text.size(), text.data(), (int)action.size(), action.data());
        return err;
    }
    r->allow = verb == "allow";
    r->action = action == "publish" ? rtmp_access_action::publish : rtmp_access_action::play;
    char why[200];
    if (rtmp_access_parse_addr(addr, r, why, sizeof(why)) != nullptr) {
        snprintf(err, len, "rule \"%.*s\": %s", (int)text.size(), text.data(), why);
        return err;
    }
    return nullptr;
}

const rtmp_access_rule_t *rtmp_access_match(const rtmp_access_rules_t *rules,
                                            const struct sockaddr *sa)
{
    u_char peer[16];
    int family;
    if (sa->sa_family == AF_INET) {
        memcpy(peer, &reinterpret_cast<const struct sockaddr_in *>(sa)->sin_addr, 4);
        family = AF_INET;
    } else if (sa->sa_family == AF_INET6) {
        const auto *a = reinterpret_cast<const u_char *>(
            &reinterpret_cast<const struct sockaddr_in6 *>(sa)->sin6_addr);
        family = rtmp_access_v4_mapped(a) ? AF_INET : AF_INET6;
        memcpy(peer, family == AF_INET ? a + 12 : a, family == AF_INET ? 4 : 16);
    } else {
        return nullptr; // unix sockets: pulls between our own workers
    }
    size_t n = family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < rules->n; i++) {
        const rtmp_access_rule_t *r = &rules->rules[i];
        if (r->family == AF_UNSPEC) {
            return r;
        }
        if (r->family != family) {
            continue;
        }
        size_t k = 0;
        while (k < n && (peer[k] & r->mask[k]) == r->addr[k]) {
            k++;
        }
        if (k == n) {
            return r;
        }
    }
    return nullptr;
}

// ---- configuration ------------------------------------------------------------------------

static void *rtmp_access_create_app_conf(rtmp_conf_t *cf)
{
    return rtmp_palloc<rtmp_access_app_conf_t>(cf->pool);
}

static const char *rtmp_access_merge_app_conf(rtmp_conf_t *, void *parent, void *child)
{
    auto *p = static_cast<rtmp_access_app_conf_t *>(parent);
    auto *c = static_cast<rtmp_access_app_conf_t *>(child);
    if (c->publish.n == 0) {
        c->publish = p->publish;
    }
    if (c->play.n == 0) {
        c->play = p->play;
    }
    return nullptr;
}

static void rtmp_access_append(rtmp_conf_t *cf, rtmp_access_rules_t *rules,
                               const rtmp_access_rule_t *r)
{
    // configuration time only, and lists are short: grow by copying into the cycle pool
    auto *grown = rtmp_palloc<rtmp_access_rule_t>(cf->pool, rules->n + 1);
    if (rules->n) {
        memcpy(grown, rules->rules, rules->n * sizeof(rtmp_access_rule_t));
    }
    grown[rules->n] = *r;
    rules->rules = grown;
    rules->n++;
}

// access = "RULE" or ( "RULE", ... ); allow_publish etc. = "ADDRESS" or [ "ADDRESS", ... ].
// Every rule joins its action's list in the order it is written.
static const char *rtmp_access_set(rtmp_conf_t *cf, const rtmp_directive_t *d, config_setting_t *s,
                                   void *conf)
{
    auto *acf = static_cast<rtmp_access_app_conf_t *>(conf);
    std::string_view name = d->name;
    bool whole = name == "access";
    const char *expected =
        whole ? "a rule or a list of rules, e.g. ( \"allow publish 127.0.0.1\", \"deny publish "
                "all\" )"
              : "an address, a CIDR block or \"all\", or a list of them";
    int type = config_setting_type(s);
    bool list = type == CONFIG_TYPE_LIST || type == CONFIG_TYPE_ARRAY;
    if (type != CONFIG_TYPE_STRING && !list) {
        return expected;
    }
    int n = list ? config_setting_length(s) : 1;
    if (n == 0) {
        return expected;
    }
    for (int i = 0; i < n; i++) {
        config_setting_t *e = list ? config_setting_get_elem(s, (unsigned)i) : s;
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            rtmp_conf_error(cf, e, "\"%s\" must be %s", d->name, expected);
            return "";
        }
        std::string_view v = rtmp_conf_string(e);
        rtmp_access_rule_t r{};
        char err[300];
        char text[128];
        const char *bad;
        if (whole) {
            bad = rtmp_access_parse_rule(v, &r, err, sizeof(err));
            snprintf(text, sizeof(text), "%.*s", (int)v.size(), v.data());
        } else {
            r.allow = name.starts_with("allow");
            r.action =
                name.ends_with("publish") ? rtmp_access_action::publish : rtmp_access_action::play;
            bad = rtmp_access_parse_addr(v, &r, err, sizeof(err));
            snprintf(text, sizeof(text), "%s %s %.*s", r.allow ? "allow" : "deny",
                     r.action == rtmp_access_action::publish ? "publish" : "play", (int)v.size(),
                     v.data());
        }
        if (bad) {
            rtmp_conf_error(cf, e, "\"%s\": %s", d->name, bad);
            return "";
        }
        const char *file = config_setting_source_file(e);
        r.text = reinterpret_cast<const char *>(rtmp_pstrdup(cf->pool, text));
        r.file = reinterpret_cast<const char *>(rtmp_pstrdup(cf->pool, file ? file : "?"));
        r.line = config_setting_source_line(e);
        rtmp_access_append(cf, r.action == rtmp_access_action::publish ? &acf->publish : &acf->play,
                           &r);
    }
    return nullptr;
}

#define ACCESS_BLOCKS (RTMP_CONF_RTMP | RTMP_CONF_SRV | RTMP_CONF_APP)

static const rtmp_directive_t rtmp_access_directives[] = {
    {"access", ACCESS_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::custom, 0, 0, 0,
     rtmp_access_set},
    {"allow_publish", ACCESS_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::custom, 0, 0, 0,
     rtmp_access_set},
    {"deny_publish", ACCESS_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::custom, 0, 0, 0,
     rtmp_access_set},
    {"allow_play", ACCESS_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::custom, 0, 0, 0,
     rtmp_access_set},
    {"deny_play", ACCESS_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::custom, 0, 0, 0,
     rtmp_access_set},
    {nullptr, 0, rtmp_conf_level::app, rtmp_conf_type::flag, 0, 0, 0, nullptr},
};

// ---- handlers -----------------------------------------------------------------------------

// The rule that refuses this session, or nullptr. Pulls between our workers arrive on unix
// sockets, which no rule matches: they are always let through.
static const rtmp_access_rule_t *rtmp_access_refusal(rtmp_session_t *s,
                                                     const rtmp_access_rules_t *rules)
{
    const rtmp_access_rule_t *r =
        rtmp_access_match(rules, reinterpret_cast<const struct sockaddr *>(&s->c->sockaddr));
    return r && !r->allow ? r : nullptr;
}

// A refused publisher gets Publish.BadName (level "error": ffmpeg gives up on it) and the
// connection is closed right after the reply; see rtmp_key.cpp for why closing matters to OBS.
// A pull from an origin is let through: its address is the origin's, and the server
// itself started it (the rules are about who may publish here, not where we pull from).
static rtmp_int_t rtmp_access_publish(rtmp_session_t *s, rtmp_stream_t *st)
{
    const rtmp_access_rule_t *r =
        rtmp_relay_origin_pull(s) ? nullptr
                                  : rtmp_access_refusal(s, &rtmp_access_app_conf(s->app)->publish);
    if (r == nullptr) {
        return rtmp_access_next_publish(s, st);
    }
    rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "publish \"%s/%s\" denied by rule \"%s\" (%s:%d)",
                   s->app->name.data, st->name, r->text, r->file, r->line);
    s->close_after_flush = true;
    return rtmp_session_status(s, st->msid, rtmp_cmd_status_id::publish_bad_name, st->name,
                               "Access denied: this address may not publish here");
}

static rtmp_int_t rtmp_access_play(rtmp_session_t *s, rtmp_stream_t *st)
{
    const rtmp_access_rule_t *r = rtmp_access_refusal(s, &rtmp_access_app_conf(s->app)->play);
    if (r == nullptr) {
        return rtmp_access_next_play(s, st);
    }
    rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "play \"%s/%s\" denied by rule \"%s\" (%s:%d)",
                   s->app->name.data, st->name, r->text, r->file, r->line);
    s->close_after_flush = true;
    return rtmp_session_status(s, st->msid, rtmp_cmd_status_id::play_stream_not_found, st->name,
                               "Access denied: this address may not play here");
}

static void rtmp_access_postconfiguration()
{
    rtmp_access_next_publish = rtmp_publish_handler;
    rtmp_publish_handler = rtmp_access_publish;
    rtmp_access_next_play = rtmp_play_handler;
    rtmp_play_handler = rtmp_access_play;
}

rtmp_module_t rtmp_access_module = {
    .name = "access",
    .index = 0,
    .directives = rtmp_access_directives,
    .create_app_conf = rtmp_access_create_app_conf,
    .merge_app_conf = rtmp_access_merge_app_conf,
    .postconfiguration = rtmp_access_postconfiguration,
};
