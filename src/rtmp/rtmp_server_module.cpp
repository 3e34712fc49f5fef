// The server module: listen addresses and per-server settings.
#include "rtmp/rtmp_server_module.h"
#include "event/rtmp_ssl.h"
#include "rtmp/rtmp_session.h"

#include <arpa/inet.h>
#include <cstdio>
#include <netinet/in.h>
#include <unistd.h>

// the kernel caps it at net.core.somaxconn; bursts of players need more than nginx's 511
static constexpr int RTMP_LISTEN_BACKLOG = 4096;

bool rtmp_listen_parse(std::string_view v, rtmp_listening_t *ls)
{
    std::string_view host, port = v;
    if (!v.empty() && v.front() == '[') {
        size_t close = v.find("]:");
        if (close == std::string_view::npos) {
            return false;
        }
        host = v.substr(1, close - 1);
        port = v.substr(close + 2);
    } else if (size_t colon = v.rfind(':'); colon != std::string_view::npos) {
        host = v.substr(0, colon);
        port = v.substr(colon + 1);
    }
    int64_t p = rtmp_atoi(port);
    if (p < 1 || p > 65535 || host.size() >= 64) {
        return false;
    }
    char h[64] = "";
    if (!host.empty()) {
        memcpy(h, host.data(), host.size());
        h[host.size()] = '\0';
    }

    memset(&ls->sockaddr, 0, sizeof(ls->sockaddr));
    if (!v.empty() && v.front() == '[') {
        auto *sin6 = reinterpret_cast<struct sockaddr_in6 *>(&ls->sockaddr);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)p);
        if (inet_pton(AF_INET6, h, &sin6->sin6_addr) != 1) {
            return false;
        }
        ls->socklen = sizeof(*sin6);
        ls->ipv6only = 1;
        snprintf(ls->addr_text, sizeof(ls->addr_text), "[%s]:%d", h, (int)p);
    } else {
        auto *sin = reinterpret_cast<struct sockaddr_in *>(&ls->sockaddr);
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)p);
        if (host.empty() || host == "*") {
            sin->sin_addr.s_addr = htonl(INADDR_ANY);
            snprintf(h, sizeof(h), "0.0.0.0");
        } else if (inet_pton(AF_INET, h, &sin->sin_addr) != 1) {
            return false;
        }
        ls->socklen = sizeof(*sin);
        snprintf(ls->addr_text, sizeof(ls->addr_text), "%s:%d", h, (int)p);
    }
    ls->backlog = RTMP_LISTEN_BACKLOG;
    return true;
}

const char *rtmp_listen_set(rtmp_conf_t *cf, config_setting_t *s, rtmp_listening_t *listen,
                            size_t *nlisten, rtmp_connection_handler_pt handler, const char *scheme)
{
    static constexpr const char *expected =
        "a port, \"addr:port\" or \"[ipv6]:port\", each optionally followed by \" ssl\", or a "
        "list of them";
    int type = config_setting_type(s);
    bool many = type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST;
    int n = many ? config_setting_length(s) : 1;

    for (int i = 0; i < n; i++) {
        config_setting_t *e = many ? config_setting_get_elem(s, (unsigned)i) : s;
        char port[16];
        std::string_view v;
        if (config_setting_type(e) == CONFIG_TYPE_INT) {
            snprintf(port, sizeof(port), "%d", config_setting_get_int(e));
            v = port;
        } else {
            v = rtmp_conf_string(e);
        }
        if (*nlisten == RTMP_MAX_LISTEN) {
            rtmp_conf_error(cf, e, "too many listen addresses in one block (at most %zu)",
                            RTMP_MAX_LISTEN);
            return expected;
        }
        rtmp_listening_t *ls = &listen[*nlisten];
        bool ssl = v.size() > 4 && v.ends_with(" ssl");
        if (ssl) {
            v.remove_suffix(4);
            while (!v.empty() && v.back() == ' ') {
                v.remove_suffix(1);
            }
        }
        if (!rtmp_listen_parse(v, ls)) {
            return expected;
        }
        ls->ssl = ssl;
        ls->handler = handler;
        ls->scheme = scheme;
        const char *file = config_setting_source_file(e);
        ls->conf_file = file ? reinterpret_cast<const char *>(rtmp_pstrdup(cf->pool, file)) : "?";
        ls->conf_line = config_setting_source_line(e);
        (*nlisten)++;
    }
    return nullptr;
}

const char *rtmp_listen_ssl(rtmp_conf_t *cf, rtmp_listening_t *listen, size_t nlisten,
                            rtmp_str_t cert, rtmp_str_t key, bool own)
{
    const rtmp_listening_t *ssl = nullptr;
    for (size_t i = 0; i < nlisten && ssl == nullptr; i++) {
        ssl = listen[i].ssl ? &listen[i] : nullptr;
    }
    if (ssl == nullptr) {
        if (own && cert.len && nlisten) {
            rtmp_conf_warn(cf, listen[0].conf_file, listen[0].conf_line,
                           "ssl_certificate is set but no listen address is marked ssl (as in "
                           "\"443 ssl\"): it serves nothing");
        }
        return nullptr;
    }
    // errors name the ssl address's line: the certificate's own may be in an outer block
    if (cert.len == 0 || key.len == 0) {
        snprintf(cf->error, sizeof(cf->error),
                 "%s:%d: listen \"%s ssl\" needs ssl_certificate and ssl_certificate_key",
                 ssl->conf_file, ssl->conf_line, ssl->addr_text);
        return "";
    }
    char why[300];
    SSL_CTX *ctx = rtmp_ssl_server_ctx(reinterpret_cast<const char *>(cert.data),
                                       reinterpret_cast<const char *>(key.data), why, sizeof(why));
    if (ctx == nullptr) {
        snprintf(cf->error, sizeof(cf->error), "%s:%d: TLS for listen \"%s ssl\": %s",
                 ssl->conf_file, ssl->conf_line, ssl->addr_text, why);
        return "";
    }
    rtmp_ssl_ctx_owned_by(cf->pool, ctx);
    if (rtmp_ssl_cert_out_of_date(ctx, why, sizeof(why))) {
        // served all the same: clients that do not check certificates still connect
        rtmp_conf_warn(cf, ssl->conf_file, ssl->conf_line,
                       "the certificate of listen \"%s ssl\" (\"%s\") %s; clients that check "
                       "certificates refuse it",
                       ssl->addr_text, cert.data, why);
    }
    for (size_t i = 0; i < nlisten; i++) {
        if (listen[i].ssl) {
            listen[i].ssl_ctx = ctx;
        }
    }
    return nullptr;
}

static const char *rtmp_server_set_listen(rtmp_conf_t *cf, const rtmp_directive_t *,
                                          config_setting_t *s, void *conf)
{
    auto *scf = static_cast<rtmp_server_conf_t *>(conf);
    return rtmp_listen_set(cf, s, scf->listen, &scf->nlisten, rtmp_session_init, "rtmp");
}

static void *rtmp_server_create_srv_conf(rtmp_conf_t *cf)
{
    auto *scf = rtmp_palloc<rtmp_server_conf_t>(cf->pool);
    scf->chunk_size = RTMP_CONF_UNSET;
    scf->max_message = RTMP_CONF_UNSET;
    scf->max_chunk_streams = RTMP_CONF_UNSET;
    scf->ack_window = RTMP_CONF_UNSET;
    scf->handshake_timeout = RTMP_CONF_UNSET_MSEC;
    scf->timeout = RTMP_CONF_UNSET_MSEC;
    scf->ping = RTMP_CONF_UNSET_MSEC;
    scf->ping_timeout = RTMP_CONF_UNSET_MSEC;
    scf->message_timeout = RTMP_CONF_UNSET_MSEC;
    scf->max_commands_per_second = RTMP_CONF_UNSET;
    scf->command_burst = RTMP_CONF_UNSET;
    scf->relay_ssl_verify = RTMP_CONF_UNSET;
    return scf;
}

static const char *rtmp_server_merge_srv_conf(rtmp_conf_t *cf, void *parent, void *child)
{
    auto *prev = static_cast<rtmp_server_conf_t *>(parent);
    auto *conf = static_cast<rtmp_server_conf_t *>(child);
    rtmp_conf_merge_value(conf->chunk_size, prev->chunk_size, 4096);
    rtmp_conf_merge_value(conf->max_message, prev->max_message, 1024 * 1024);
    rtmp_conf_merge_value(conf->max_chunk_streams, prev->max_chunk_streams, 32);
    rtmp_conf_merge_value(conf->ack_window, prev->ack_window, 5000000);
    rtmp_conf_merge_msec(conf->handshake_timeout, prev->handshake_timeout, 10000);
    rtmp_conf_merge_msec(conf->timeout, prev->timeout, 60000);
    rtmp_conf_merge_msec(conf->ping, prev->ping, 30000);
    rtmp_conf_merge_msec(conf->ping_timeout, prev->ping_timeout, 15000);
    rtmp_conf_merge_msec(conf->message_timeout, prev->message_timeout, 30000);
    rtmp_conf_merge_value(conf->max_commands_per_second, prev->max_commands_per_second, 100);
    rtmp_conf_merge_value(conf->command_burst, prev->command_burst, 200);
    bool own_certificate = conf->ssl_certificate.data != nullptr;
    if (conf->ssl_certificate.data == nullptr) {
        conf->ssl_certificate = prev->ssl_certificate;
    }
    if (conf->ssl_certificate_key.data == nullptr) {
        conf->ssl_certificate_key = prev->ssl_certificate_key;
    }
    rtmp_conf_merge_value(conf->relay_ssl_verify, prev->relay_ssl_verify, 1);
    if (conf->relay_ssl_trusted_certificate.data == nullptr) {
        conf->relay_ssl_trusted_certificate = prev->relay_ssl_trusted_certificate;
    }
    // read by the worker at its first rtmps:// relay (the system's CAs cost a megabyte
    // nobody needs without one): what -t can tell is whether the file is there
    static char error[512];
    const char *trusted = reinterpret_cast<const char *>(conf->relay_ssl_trusted_certificate.data);
    if (trusted && access(trusted, R_OK) == -1) {
        snprintf(error, sizeof(error), "relay_ssl_trusted_certificate \"%s\": %s", trusted,
                 strerror(errno));
        return error;
    }
    return rtmp_listen_ssl(cf, conf->listen, conf->nlisten, conf->ssl_certificate,
                           conf->ssl_certificate_key, own_certificate);
}

#define SRV_OFF(field) offsetof(rtmp_server_conf_t, field)
#define SRV_BLOCKS (RTMP_CONF_RTMP | RTMP_CONF_SRV)

static const rtmp_directive_t rtmp_server_directives[] = {
    {"listen", RTMP_CONF_SRV, rtmp_conf_level::srv, rtmp_conf_type::custom, 0, 0, 0,
     rtmp_server_set_listen},
    {"chunk_size", SRV_BLOCKS, rtmp_conf_level::srv, rtmp_conf_type::size, SRV_OFF(chunk_size), 128,
     65536, nullptr},
    // 16m: whatever the 3-byte length field can declare
    {"max_message", SRV_BLOCKS, rtmp_conf_level::srv, rtmp_conf_type::size, SRV_OFF(max_message),
     1024, 16 * 1024 * 1024, nullptr},
    {"max_chunk_streams", SRV_BLOCKS, rtmp_conf_level::srv, rtmp_conf_type::number,
     SRV_OFF(max_chunk_streams), 4, 65600, nullptr},
    {"ack_window", SRV_BLOCKS, rtmp_conf_level::srv, rtmp_conf_type::size, SRV_OFF(ack_window),
     4096, 0x7fffffff, nullptr},
    {"handshake_timeout", SRV_BLOCKS, rtmp_conf_level::srv, rtmp_conf_type::msec,
     SRV_OFF(handshake_timeout), 100, 600000, nullptr},
    {"timeout", SRV_BLOCKS, rtmp_conf_level::srv, rtmp_conf_type::msec, SRV_OFF(timeout), 1000,
     86400000, nullptr},
    {"ping", SRV_BLOCKS, rtmp_conf_level::srv, rtmp_conf_type::msec, SRV_OFF(ping), 0, 86400000,
     nullptr},
    {"ping_timeout", SRV_BLOCKS, rtmp_conf_level::srv, rtmp_conf_type::msec, SRV_OFF(ping_timeout),
     100, 86400000, nullptr},
    {"message_timeout", SRV_BLOCKS, rtmp_conf_level::srv, rtmp_conf_type::msec,
     SRV_OFF(message_timeout), 0, 86400000, nullptr},
    {"max_commands_per_second", SRV_BLOCKS, rtmp_conf_level::srv, rtmp_conf_type::number,
     SRV_OFF(max_commands_per_second), 0, 1000000, nullptr},
    {"command_burst", SRV_BLOCKS, rtmp_conf_level::srv, rtmp_conf_type::number,
     SRV_OFF(command_burst), 1, 1000000, nullptr},
    {"ssl_certificate", SRV_BLOCKS, rtmp_conf_level::srv, rtmp_conf_type::string,
     SRV_OFF(ssl_certificate), 0, 0, nullptr},
    {"ssl_certificate_key", SRV_BLOCKS, rtmp_conf_level::srv, rtmp_conf_type::string,
     SRV_OFF(ssl_certificate_key), 0, 0, nullptr},
    {"relay_ssl_verify", SRV_BLOCKS, rtmp_conf_level::srv, rtmp_conf_type::flag,
     SRV_OFF(relay_ssl_verify), 0, 0, nullptr},
    {"relay_ssl_trusted_certificate", SRV_BLOCKS, rtmp_conf_level::srv, rtmp_conf_type::string,
     SRV_OFF(relay_ssl_trusted_certificate), 0, 0, nullptr},
    {nullptr, 0, rtmp_conf_level::srv, rtmp_conf_type::flag, 0, 0, 0, nullptr},
};

rtmp_module_t rtmp_server_module = {
    .name = "server",
    .index = 0,
    .directives = rtmp_server_directives,
    .create_srv_conf = rtmp_server_create_srv_conf,
    .merge_srv_conf = rtmp_server_merge_srv_conf,
};
