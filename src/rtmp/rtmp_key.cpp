// The key module: HMAC-SHA256 stream keys with an expiry, minted offline and checked at
// publish/play.
#include "rtmp/rtmp_key.h"
#include "core/rtmp_time.h"
#include "os/rtmp_cycle.h"
#include "rtmp/rtmp_relay.h"

#include <arpa/inet.h>
#include <cstdio>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static rtmp_publish_pt rtmp_key_next_publish;
static rtmp_play_pt rtmp_key_next_play;

// ---- keys ----------------------------------------------------------------------------------

// HMAC-SHA256 over "<app>/<name>\n<expiry>[\n<addr>]"; false when the names are too long.
static bool rtmp_key_hmac(std::string_view secret, std::string_view app, std::string_view name,
                          std::string_view expiry, std::string_view addr, u_char *md)
{
    char msg[RTMP_MAX_NAME * 2 + 128];
    int n = snprintf(msg, sizeof(msg), "%.*s/%.*s\n%.*s%s%.*s", (int)app.size(), app.data(),
                     (int)name.size(), name.data(), (int)expiry.size(), expiry.data(),
                     addr.empty() ? "" : "\n", (int)addr.size(), addr.data());
    if (n < 0 || (size_t)n >= sizeof(msg)) {
        return false;
    }
    unsigned int len = 0;
    return HMAC(EVP_sha256(), secret.data(), (int)secret.size(),
                reinterpret_cast<const u_char *>(msg), (size_t)n, md, &len) != nullptr &&
           len == 32;
}

size_t rtmp_key_mint(std::string_view secret, std::string_view app, std::string_view name,
                     int64_t expiry, std::string_view addr, char *out, size_t size)
{
    char exp[24];
    snprintf(exp, sizeof(exp), "%lld", (long long)expiry);
    u_char md[32];
    if (size < RTMP_KEY_SIZE || expiry < 0 || !rtmp_key_hmac(secret, app, name, exp, addr, md)) {
        return 0;
    }
    int n = snprintf(out, size, "%s-", exp);
    for (u_char b : md) {
        n += snprintf(out + n, size - (size_t)n, "%02x", b);
    }
    return (size_t)n;
}

static int rtmp_key_hex(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

rtmp_key_result rtmp_key_verify(std::string_view secret, std::string_view app,
                                std::string_view name, std::string_view key, int64_t now,
                                std::string_view addr)
{
    if (key.empty()) {
        return rtmp_key_result::missing;
    }
    size_t dash = key.find('-');
    if (dash == std::string_view::npos || dash == 0 || dash > 19 ||
        key.size() - dash - 1 != RTMP_KEY_HMAC_HEX) {
        return rtmp_key_result::malformed;
    }
    std::string_view expiry = key.substr(0, dash);
    int64_t until = rtmp_atoi(expiry);
    u_char given[32];
    for (size_t i = 0; i < sizeof(given); i++) {
        int hi = rtmp_key_hex(key[dash + 1 + 2 * i]);
        int lo = rtmp_key_hex(key[dash + 2 + 2 * i]);
        if (hi < 0 || lo < 0) {
            return rtmp_key_result::malformed;
        }
        given[i] = (u_char)(hi << 4 | lo);
    }
    if (until < 0) {
        return rtmp_key_result::malformed;
    }
    // the HMAC is over the expiry as the key spells it, so nothing is lost in conversion
    u_char md[32];
    bool good = rtmp_key_hmac(secret, app, name, expiry, {}, md) &&
                CRYPTO_memcmp(md, given, sizeof(md)) == 0;
    if (!good && !addr.empty()) {
        good = rtmp_key_hmac(secret, app, name, expiry, addr, md) &&
               CRYPTO_memcmp(md, given, sizeof(md)) == 0;
    }
    if (!good) {
        return rtmp_key_result::bad_signature;
    }
    return now > until ? rtmp_key_result::expired : rtmp_key_result::ok;
}

std::string_view rtmp_key_from_args(std::string_view args)
{
    return rtmp_query_arg(args, "key");
}

std::string_view rtmp_key_peer_addr(const struct sockaddr *sa, char *buf, size_t size)
{
    const void *a;
    int family = sa->sa_family;
    if (family == AF_INET) {
        a = &reinterpret_cast<const struct sockaddr_in *>(sa)->sin_addr;
    } else if (family == AF_INET6) {
        const auto *in6 = &reinterpret_cast<const struct sockaddr_in6 *>(sa)->sin6_addr;
        a = in6;
        if (IN6_IS_ADDR_V4MAPPED(in6)) {
            a = reinterpret_cast<const u_char *>(in6) + 12;
            family = AF_INET;
        }
    } else {
        return {};
    }
    if (inet_ntop(family, a, buf, (socklen_t)size) == nullptr) {
        return {};
    }
    return buf;
}

const char *rtmp_key_result_text(rtmp_key_result r)
{
    switch (r) {
    case rtmp_key_result::ok:
        return "valid";
    case rtmp_key_result::missing:
        return "missing";
    case rtmp_key_result::malformed:
        return "malformed";
    case rtmp_key_result::bad_signature:
        return "invalid";
    default:
        return "expired";
    }
}

// ---- configuration ------------------------------------------------------------------------

static void *rtmp_key_create_app_conf(rtmp_conf_t *cf)
{
    return rtmp_palloc<rtmp_key_app_conf_t>(cf->pool); // data == nullptr: unset
}

static const char *rtmp_key_merge_app_conf(rtmp_conf_t *, void *parent, void *child)
{
    auto *p = static_cast<rtmp_key_app_conf_t *>(parent);
    auto *c = static_cast<rtmp_key_app_conf_t *>(child);
    rtmp_conf_merge_str(c->publish_secret, p->publish_secret, "");
    rtmp_conf_merge_str(c->play_secret, p->play_secret, "");
    return nullptr;
}

// A secret is a string of at least RTMP_KEY_MIN_SECRET bytes, or "" to need no key in
// this block although an outer one does.
static const char *rtmp_key_set_secret(rtmp_conf_t *cf, const rtmp_directive_t *d,
                                       config_setting_t *s, void *conf)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        return "a string";
    }
    std::string_view v = rtmp_conf_string(s);
    if (!v.empty() && v.size() < RTMP_KEY_MIN_SECRET) {
        rtmp_conf_error(cf, s,
                        "\"%s\" must be at least %zu characters (\"openssl rand -hex 32\" makes "
                        "one), or \"\" for no key",
                        d->name, RTMP_KEY_MIN_SECRET);
        return "";
    }
    *reinterpret_cast<rtmp_str_t *>(static_cast<u_char *>(conf) + d->offset) =
        rtmp_pstr(cf->pool, v);
    return nullptr;
}

#define KEY_BLOCKS (RTMP_CONF_RTMP | RTMP_CONF_SRV | RTMP_CONF_APP)

static const rtmp_directive_t rtmp_key_directives[] = {
    {"publish_key_secret", KEY_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::custom,
     offsetof(rtmp_key_app_conf_t, publish_secret), 0, 0, rtmp_key_set_secret},
    {"play_key_secret", KEY_BLOCKS, rtmp_conf_level::app, rtmp_conf_type::custom,
     offsetof(rtmp_key_app_conf_t, play_secret), 0, 0, rtmp_key_set_secret},
    {nullptr, 0, rtmp_conf_level::app, rtmp_conf_type::flag, 0, 0, 0, nullptr},
};

rtmp_int_t rtmp_key_conf_secret(const char *conf_file, std::string_view app, bool play,
                                char *secret, size_t size, int *port, char *error, size_t len)
{
    rtmp_cycle_t *cycle = rtmp_cycle_read(conf_file, error, len);
    if (cycle == nullptr) {
        return RTMP_ERROR;
    }
    rtmp_conf_srv_t *srv = nullptr;
    rtmp_conf_app_t *found = nullptr;
    for (size_t i = 0; i < cycle->nservers && found == nullptr; i++) {
        for (size_t a = 0; a < cycle->servers[i]->napps && found == nullptr; a++) {
            if (cycle->servers[i]->apps[a]->name.sv() == app) {
                srv = cycle->servers[i];
                found = srv->apps[a];
            }
        }
    }
    rtmp_int_t rc = RTMP_ERROR;
    rtmp_str_t v = found == nullptr ? rtmp_null_string
                   : play           ? rtmp_key_app_conf(found)->play_secret
                                    : rtmp_key_app_conf(found)->publish_secret;
    if (found == nullptr) {
        snprintf(error, len, "%s: no application \"%.*s\"", conf_file, (int)app.size(), app.data());
    } else if (v.len == 0 || v.len >= size) {
        snprintf(error, len, "%s: application \"%.*s\" has no %s", conf_file, (int)app.size(),
                 app.data(), play ? "play_key_secret" : "publish_key_secret");
    } else {
        memcpy(secret, v.data, v.len);
        secret[v.len] = '\0';
        *port = 0;
        for (size_t l = 0; l < cycle->nlistening && *port == 0; l++) {
            const rtmp_listening_t *ls = &cycle->listening[l];
            if (ls->server == srv) {
                // sin_port and sin6_port sit at the same offset
                *port =
                    ntohs(reinterpret_cast<const struct sockaddr_in *>(&ls->sockaddr)->sin_port);
            }
        }
        rc = RTMP_OK;
    }
    rtmp_pool_destroy(cycle->pool);
    return rc;
}

// ---- handlers -----------------------------------------------------------------------------

static rtmp_key_result rtmp_key_check(rtmp_session_t *s, rtmp_stream_t *st, rtmp_str_t secret)
{
    char addr[INET6_ADDRSTRLEN];
    std::string_view peer = rtmp_key_peer_addr(
        reinterpret_cast<const struct sockaddr *>(&s->c->sockaddr), addr, sizeof(addr));
    return rtmp_key_verify(secret.sv(), s->app->name.sv(), st->name, rtmp_key_from_args(st->args),
                           (int64_t)rtmp_cached_time_sec, peer);
}

// How a refusal is answered, for OBS above all (obs-studio plugins/obs-outputs): OBS's
// RTMP_ConnectStream (librtmp/rtmp.c) waits for NetStream.Publish.Start; when the socket
// closes first it fails, try_connect() (rtmp-stream.c) returns OBS_OUTPUT_INVALID_STREAM,
// and libobs's can_reconnect() (obs-output.c) only retries OBS_OUTPUT_DISCONNECTED, so a
// first start ends with "could not access the stream key" instead of a retry. OBS's librtmp
// closes by itself only on Publish.Rejected/Denied (not on BadName): a BadName left open, as
// nginx-rtmp does, holds OBS for its 30 s receive timeout. What does loop is refusing after
// Publish.Start (a send error is OBS_OUTPUT_DISCONNECTED, and while reconnecting every
// failure is retried). So: refuse before Publish.Start, with the BadName (level "error",
// which ffmpeg and GStreamer treat as fatal) that the access module also sends, then close
// at once. NetConnection.Connect.Rejected is no better: OBS feeds its description to its
// Adobe/Limelight auth parser, and the stream name and key only arrive after connect anyway.
// A key that expires while its publisher is on air does not cut it off, for the same reason.
static rtmp_int_t rtmp_key_refuse(rtmp_session_t *s, rtmp_stream_t *st, bool publish,
                                  rtmp_key_result r)
{
    rtmp_log_error(RTMP_LOG_INFO, &s->c->log, 0, "%s \"%s/%s\" refused: %s key",
                   publish ? "publish" : "play", s->app->name.data, st->name,
                   rtmp_key_result_text(r));
    char why[80];
    snprintf(why, sizeof(why), "Access denied: stream key %s", rtmp_key_result_text(r));
    s->close_after_flush = true;
    return rtmp_session_status(s, st->msid,
                               publish ? rtmp_cmd_status_id::publish_bad_name
                                       : rtmp_cmd_status_id::play_stream_not_found,
                               st->name, why);
}

// Pulls between our workers (unix sockets) carry no key: the player already showed one.
// A pull from an origin carries none either: the server started it, its query string is
// the one the origin wants.
static bool rtmp_key_internal(rtmp_session_t *s)
{
    return s->c->sockaddr.ss_family == AF_UNIX || rtmp_relay_origin_pull(s);
}

static rtmp_int_t rtmp_key_publish(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_str_t secret = rtmp_key_app_conf(s->app)->publish_secret;
    if (secret.len && !rtmp_key_internal(s)) {
        rtmp_key_result r = rtmp_key_check(s, st, secret);
        if (r != rtmp_key_result::ok) {
            return rtmp_key_refuse(s, st, true, r);
        }
    }
    return rtmp_key_next_publish(s, st);
}

static rtmp_int_t rtmp_key_play(rtmp_session_t *s, rtmp_stream_t *st)
{
    rtmp_str_t secret = rtmp_key_app_conf(s->app)->play_secret;
    if (secret.len && !rtmp_key_internal(s)) {
        rtmp_key_result r = rtmp_key_check(s, st, secret);
        if (r != rtmp_key_result::ok) {
            return rtmp_key_refuse(s, st, false, r);
        }
    }
    return rtmp_key_next_play(s, st);
}

static void rtmp_key_postconfiguration()
{
    rtmp_key_next_publish = rtmp_publish_handler;
    rtmp_publish_handler = rtmp_key_publish;
    rtmp_key_next_play = rtmp_play_handler;
    rtmp_play_handler = rtmp_key_play;
}

rtmp_module_t rtmp_key_module = {
    .name = "key",
    .index = 0,
    .directives = rtmp_key_directives,
    .create_app_conf = rtmp_key_create_app_conf,
    .merge_app_conf = rtmp_key_merge_app_conf,
    .postconfiguration = rtmp_key_postconfiguration,
};
