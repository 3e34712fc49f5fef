// Walks a libconfig tree, routing each setting to the module directive that owns it.
#include "core/rtmp_conf.h"
#include "core/rtmp_module.h"
#include "os/rtmp_cycle.h"

#include <cctype>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <libgen.h>

// The confs in force in the block being walked.
struct rtmp_conf_ctx_t {
    unsigned block;
    void **srv_conf;
    void **app_conf;
};

static const char *rtmp_conf_block_name(unsigned block)
{
    switch (block) {
    case RTMP_CONF_MAIN:
        return "the top level";
    case RTMP_CONF_RTMP:
        return "rtmp";
    case RTMP_CONF_SRV:
        return "server";
    case RTMP_CONF_HTTP:
        return "http";
    default:
        return "application";
    }
}

rtmp_int_t rtmp_conf_error(rtmp_conf_t *cf, config_setting_t *s, const char *fmt, ...)
{
    const char *file = s ? config_setting_source_file(s) : nullptr;
    int line = s ? config_setting_source_line(s) : 0;
    int n = snprintf(cf->error, sizeof(cf->error), "%s:%d: ", file ? file : "?", line);
    if (n < 0 || (size_t)n >= sizeof(cf->error)) {
        return RTMP_ERROR;
    }
    va_list args;
    va_start(args, fmt);
    vsnprintf(cf->error + n, sizeof(cf->error) - (size_t)n, fmt, args);
    va_end(args);
    return RTMP_ERROR;
}

void rtmp_conf_warn(rtmp_conf_t *cf, const char *file, int line, const char *fmt, ...)
{
    char text[1024];
    int n = snprintf(text, sizeof(text), "%s:%d: ", file ? file : "?", line);
    n = n < 0 ? 0 : ((size_t)n >= sizeof(text) ? (int)sizeof(text) - 1 : n);
    va_list args;
    va_start(args, fmt);
    vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, args);
    va_end(args);
    rtmp_log_error(RTMP_LOG_WARN, cf->cycle->log, 0, "%s", text);
    size_t len = strlen(text) + 1;
    auto *w = static_cast<rtmp_conf_warning_t *>(
        rtmp_palloc(cf->pool, sizeof(rtmp_conf_warning_t) + len));
    w->next = nullptr;
    memcpy(w->text, text, len);
    rtmp_conf_warning_t **last = &cf->cycle->warnings;
    while (*last) {
        last = &(*last)->next;
    }
    *last = w;
}

std::string_view rtmp_conf_string(config_setting_t *s)
{
    const char *v =
        config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s) : nullptr;
    return v ? std::string_view(v) : std::string_view();
}

int rtmp_conf_flag(config_setting_t *s)
{
    if (config_setting_type(s) == CONFIG_TYPE_BOOL) {
        return config_setting_get_bool(s) ? 1 : 0;
    }
    std::string_view str = rtmp_conf_string(s);
    return str == "on" ? 1 : str == "off" ? 0 : -1;
}

static bool rtmp_conf_get_int(config_setting_t *s, int64_t *v)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
        *v = config_setting_get_int(s);
        return true;
    case CONFIG_TYPE_INT64:
        *v = config_setting_get_int64(s);
        return true;
    default:
        return false;
    }
}

// Reads a number, size or time: an integer, or a string the parser understands.
static const char *rtmp_conf_get_scalar(const rtmp_directive_t *d, config_setting_t *s, int64_t *v)
{
    if (rtmp_conf_get_int(s, v)) {
        if (d->type == rtmp_conf_type::msec) {
            *v = *v >= 0 && *v <= INT64_MAX / 1000 ? *v * 1000 : -1; // seconds, as in nginx
        }
    } else {
        std::string_view str = rtmp_conf_string(s);
        switch (d->type) {
        case rtmp_conf_type::size:
            *v = str.empty() ? -1 : rtmp_parse_size(str);
            break;
        case rtmp_conf_type::msec:
            *v = str.empty() ? -1 : rtmp_parse_time(str);
            break;
        default:
            *v = str.empty() ? -1 : rtmp_atoi(str);
            break;
        }
    }
    if (*v >= 0) {
        return nullptr;
    }
    switch (d->type) {
    case rtmp_conf_type::size:
        return "a size (bytes, or a string like \"4k\", \"16m\")";
    case rtmp_conf_type::msec:
        return "a time (seconds, or a string like \"500ms\", \"10s\", \"2m\")";
    default:
        return "a non-negative integer";
    }
}

static rtmp_int_t rtmp_conf_set(rtmp_conf_t *cf, const rtmp_directive_t *d, config_setting_t *s,
                                void *conf)
{
    u_char *field = static_cast<u_char *>(conf) + d->offset;
    const char *expected = nullptr;

    switch (d->type) {
    case rtmp_conf_type::flag: {
        int flag = rtmp_conf_flag(s);
        if (flag < 0) {
            expected = RTMP_CONF_FLAG_EXPECTED;
        } else {
            *reinterpret_cast<rtmp_int_t *>(field) = flag;
        }
        break;
    }
    case rtmp_conf_type::number:
    case rtmp_conf_type::size:
    case rtmp_conf_type::msec: {
        int64_t v;
        expected = rtmp_conf_get_scalar(d, s, &v);
        if (expected) {
            break;
        }
        if (v < d->min || v > d->max) {
            if (d->type == rtmp_conf_type::msec) {
                return rtmp_conf_error(cf, s, "\"%s\" must be between %lldms and %lldms", d->name,
                                       (long long)d->min, (long long)d->max);
            }
            return rtmp_conf_error(cf, s, "\"%s\" must be between %lld and %lld, not %lld", d->name,
                                   (long long)d->min, (long long)d->max, (long long)v);
        }
        if (d->type == rtmp_conf_type::msec) {
            *reinterpret_cast<rtmp_msec_t *>(field) = (rtmp_msec_t)v;
        } else {
            *reinterpret_cast<rtmp_int_t *>(field) = (rtmp_int_t)v;
        }
        break;
    }
    case rtmp_conf_type::string: {
        if (config_setting_type(s) != CONFIG_TYPE_STRING) {
            expected = "a string";
            break;
        }
        *reinterpret_cast<rtmp_str_t *>(field) = rtmp_pstr(cf->pool, rtmp_conf_string(s));
        break;
    }
    case rtmp_conf_type::custom:
        expected = d->set(cf, d, s, conf);
        if (expected && cf->error[0]) {
            return RTMP_ERROR; // the setter wrote its own message
        }
        break;
    }

    if (expected) {
        return rtmp_conf_error(cf, s, "\"%s\" must be %s", d->name, expected);
    }
    return RTMP_OK;
}

// The directive of that name allowed in `block`, else any of that name (for the message):
// two modules may use one name in different blocks ("listen" in server and in http).
static const rtmp_directive_t *rtmp_conf_find(const char *name, unsigned block,
                                              rtmp_module_t **module)
{
    const rtmp_directive_t *any = nullptr;
    for (size_t m = 0; rtmp_modules[m]; m++) {
        const rtmp_directive_t *d = rtmp_modules[m]->directives;
        for (; d && d->name; d++) {
            if (strcmp(d->name, name) != 0) {
                continue;
            }
            if (d->blocks & block) {
                *module = rtmp_modules[m];
                return d;
            }
            if (any == nullptr) {
                any = d;
                *module = rtmp_modules[m];
            }
        }
    }
    return any;
}

static rtmp_int_t rtmp_conf_directive(rtmp_conf_t *cf, rtmp_conf_ctx_t *ctx, config_setting_t *s)
{
    const char *name = config_setting_name(s);
    rtmp_module_t *module;
    const rtmp_directive_t *d = rtmp_conf_find(name, ctx->block, &module);
    if (d == nullptr) {
        return rtmp_conf_error(cf, s, "unknown directive \"%s\" in %s", name,
                               rtmp_conf_block_name(ctx->block));
    }
    if (!(d->blocks & ctx->block)) {
        return rtmp_conf_error(cf, s, "directive \"%s\" is not allowed in %s", name,
                               rtmp_conf_block_name(ctx->block));
    }
    void *conf;
    switch (d->level) {
    case rtmp_conf_level::main:
        conf = cf->cycle->main_conf[module->index];
        break;
    case rtmp_conf_level::srv:
        conf = ctx->srv_conf[module->index];
        break;
    default:
        conf = ctx->app_conf[module->index];
        break;
    }
    return rtmp_conf_set(cf, d, s, conf);
}

static void **rtmp_conf_create(rtmp_conf_t *cf, void *(*rtmp_module_t::*create)(rtmp_conf_t *))
{
    void **confs = rtmp_palloc<void *>(cf->pool, rtmp_modules_n);
    for (size_t m = 0; rtmp_modules[m]; m++) {
        if (rtmp_modules[m]->*create) {
            confs[m] = (rtmp_modules[m]->*create)(cf);
        }
    }
    return confs;
}

// A merge checks directives together, so its errors name the block that holds them:
// the server's, or the application's when app is given.
static rtmp_int_t rtmp_conf_merge(rtmp_conf_t *cf, const rtmp_conf_srv_t *srv,
                                  const rtmp_conf_app_t *app, void **prev, void **conf,
                                  const char *(*rtmp_module_t::*merge)(rtmp_conf_t *, void *,
                                                                       void *))
{
    for (size_t m = 0; rtmp_modules[m]; m++) {
        if (rtmp_modules[m]->*merge) {
            const char *err = (rtmp_modules[m]->*merge)(cf, prev[m], conf[m]);
            if (err == nullptr) {
                continue;
            }
            if (err[0] == '\0') {
                return RTMP_ERROR; // cf->error says where already
            }
            if (app) {
                snprintf(cf->error, sizeof(cf->error), "%s:%d: application \"%.*s\": %s", app->file,
                         app->line, (int)app->name.len, app->name.data, err);
            } else {
                snprintf(cf->error, sizeof(cf->error), "%s:%d: %s", srv->file, srv->line, err);
            }
            return RTMP_ERROR;
        }
    }
    return RTMP_OK;
}

// "server" and "application" take one group or a list of groups.
static rtmp_int_t rtmp_conf_check_groups(rtmp_conf_t *cf, config_setting_t *s)
{
    int type = config_setting_type(s);
    if (type == CONFIG_TYPE_GROUP) {
        return RTMP_OK;
    }
    if (type == CONFIG_TYPE_LIST) {
        for (int i = 0; i < config_setting_length(s); i++) {
            config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
                return rtmp_conf_error(cf, e, "\"%s\" must be a list of { ... } blocks",
                                       config_setting_name(s));
            }
        }
        return RTMP_OK;
    }
    return rtmp_conf_error(cf, s, "\"%s\" must be a { ... } block or a list ( { ... }, ... )",
                           config_setting_name(s));
}

static size_t rtmp_conf_group_count(config_setting_t *s)
{
    return config_setting_type(s) == CONFIG_TYPE_GROUP ? 1 : (size_t)config_setting_length(s);
}

static config_setting_t *rtmp_conf_group_at(config_setting_t *s, size_t i)
{
    return config_setting_type(s) == CONFIG_TYPE_GROUP ? s
                                                       : config_setting_get_elem(s, (unsigned)i);
}

static rtmp_int_t rtmp_conf_block(rtmp_conf_t *cf, rtmp_conf_ctx_t *ctx, config_setting_t *group);

// The file a block was read from, kept past the parse for merge-time messages.
static const char *rtmp_conf_source_file(rtmp_conf_t *cf, const config_setting_t *g)
{
    const char *file = config_setting_source_file(g);
    return file ? reinterpret_cast<const char *>(rtmp_pstrdup(cf->pool, file)) : "?";
}

static rtmp_int_t rtmp_conf_applications(rtmp_conf_t *cf, rtmp_conf_ctx_t *ctx, config_setting_t *s,
                                         rtmp_conf_srv_t *srv)
{
    if (rtmp_conf_check_groups(cf, s) != RTMP_OK) {
        return RTMP_ERROR;
    }
    size_t n = rtmp_conf_group_count(s);
    auto **apps = rtmp_palloc<rtmp_conf_app_t *>(cf->pool, srv->napps + n);
    if (srv->napps) {
        memcpy(apps, srv->apps, srv->napps * sizeof(rtmp_conf_app_t *));
    }
    srv->apps = apps;

    for (size_t i = 0; i < n; i++) {
        config_setting_t *g = rtmp_conf_group_at(s, i);
        config_setting_t *name = config_setting_get_member(g, "name");
        std::string_view v = name ? rtmp_conf_string(name) : std::string_view();
        if (v.empty() || v.find('/') != std::string_view::npos) {
            return rtmp_conf_error(cf, name ? name : g,
                                   "an application needs name = \"...\" (a non-empty string "
                                   "without '/')");
        }
        for (size_t k = 0; k < srv->napps; k++) {
            if (srv->apps[k]->name.sv() == v) {
                return rtmp_conf_error(cf, name, "duplicate application \"%.*s\"", (int)v.size(),
                                       v.data());
            }
        }
        auto *app = rtmp_palloc<rtmp_conf_app_t>(cf->pool);
        app->name = rtmp_pstr(cf->pool, v);
        app->app_conf = rtmp_conf_create(cf, &rtmp_module_t::create_app_conf);
        app->server = srv;
        app->file = rtmp_conf_source_file(cf, g);
        app->line = config_setting_source_line(g);
        srv->apps[srv->napps++] = app;

        rtmp_conf_ctx_t inner = {RTMP_CONF_APP, ctx->srv_conf, app->app_conf};
        if (rtmp_conf_block(cf, &inner, g) != RTMP_OK) {
            return RTMP_ERROR;
        }
    }
    return RTMP_OK;
}

static rtmp_int_t rtmp_conf_servers(rtmp_conf_t *cf, config_setting_t *s)
{
    if (rtmp_conf_check_groups(cf, s) != RTMP_OK) {
        return RTMP_ERROR;
    }
    rtmp_cycle_t *cycle = cf->cycle;
    size_t n = rtmp_conf_group_count(s);
    auto **servers = rtmp_palloc<rtmp_conf_srv_t *>(cf->pool, cycle->nservers + n);
    if (cycle->nservers) {
        memcpy(servers, cycle->servers, cycle->nservers * sizeof(rtmp_conf_srv_t *));
    }
    cycle->servers = servers;

    for (size_t i = 0; i < n; i++) {
        config_setting_t *g = rtmp_conf_group_at(s, i);
        auto *srv = rtmp_palloc<rtmp_conf_srv_t>(cf->pool);
        srv->srv_conf = rtmp_conf_create(cf, &rtmp_module_t::create_srv_conf);
        srv->app_conf = rtmp_conf_create(cf, &rtmp_module_t::create_app_conf);
        srv->file = rtmp_conf_source_file(cf, g);
        srv->line = config_setting_source_line(g);
        srv->index = cycle->nservers;
        cycle->servers[cycle->nservers++] = srv;

        rtmp_conf_ctx_t inner = {RTMP_CONF_SRV, srv->srv_conf, srv->app_conf};
        if (rtmp_conf_block(cf, &inner, g) != RTMP_OK) {
            return RTMP_ERROR;
        }
    }
    return RTMP_OK;
}

static rtmp_int_t rtmp_conf_block(rtmp_conf_t *cf, rtmp_conf_ctx_t *ctx, config_setting_t *group)
{
    rtmp_conf_srv_t *srv =
        ctx->block == RTMP_CONF_SRV ? cf->cycle->servers[cf->cycle->nservers - 1] : nullptr;

    for (int i = 0; i < config_setting_length(group); i++) {
        config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        rtmp_int_t rc;

        if (ctx->block == RTMP_CONF_MAIN && strcmp(name, "rtmp") == 0) {
            if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
                return rtmp_conf_error(cf, s, "\"rtmp\" must be a { ... } block");
            }
            rtmp_conf_ctx_t inner = {RTMP_CONF_RTMP, ctx->srv_conf, ctx->app_conf};
            rc = rtmp_conf_block(cf, &inner, s);
        } else if (ctx->block == RTMP_CONF_MAIN && strcmp(name, "http") == 0) {
            if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
                return rtmp_conf_error(cf, s, "\"http\" must be a { ... } block");
            }
            rtmp_conf_ctx_t inner = {RTMP_CONF_HTTP, ctx->srv_conf, ctx->app_conf};
            rc = rtmp_conf_block(cf, &inner, s);
        } else if (ctx->block == RTMP_CONF_RTMP && strcmp(name, "server") == 0) {
            rc = rtmp_conf_servers(cf, s);
        } else if (ctx->block == RTMP_CONF_SRV && strcmp(name, "application") == 0) {
            rc = rtmp_conf_applications(cf, ctx, s, srv);
        } else if (ctx->block == RTMP_CONF_APP && strcmp(name, "name") == 0) {
            rc = RTMP_OK; // read when the block was created
        } else {
            rc = rtmp_conf_directive(cf, ctx, s);
        }
        if (rc != RTMP_OK) {
            return rc;
        }
    }
    return RTMP_OK;
}

// libconfig's "cannot open include file" names neither the file nor where it was looked
// for: " \"NAME\"" from the @include on that line, when there is one.
// The setting a "duplicate setting name" is about, when its line shows which: one that is
// set twice on that line, or the line's only setting.
static void rtmp_conf_duplicate_name(std::string_view text, char *out, size_t len)
{
    std::string_view names[16];
    size_t n = 0;
    for (size_t i = 0; i < text.size() && n < 16;) {
        if (text[i] == '#' || text.substr(i, 2) == "//" || text.substr(i, 2) == "/*") {
            break;
        }
        if (text[i] == '"') { // a string: nothing in it is a name
            size_t close = text.find('"', i + 1);
            i = close == std::string_view::npos ? text.size() : close + 1;
            continue;
        }
        if (!isalpha((unsigned char)text[i]) && text[i] != '*') {
            i++;
            continue;
        }
        size_t start = i;
        while (i < text.size() && (isalnum((unsigned char)text[i]) || strchr("_-*", text[i]))) {
            i++;
        }
        size_t after = text.find_first_not_of(" \t", i);
        if (after != std::string_view::npos && (text[after] == '=' || text[after] == ':')) {
            names[n++] = text.substr(start, i - start);
        }
    }
    std::string_view name = n == 1 ? names[0] : std::string_view();
    for (size_t a = 0; a < n && name.empty(); a++) {
        for (size_t b = a + 1; b < n; b++) {
            if (names[a] == names[b]) {
                name = names[a];
            }
        }
    }
    if (!name.empty()) {
        snprintf(out, len, " \"%.*s\" (each setting once per block)", (int)name.size(),
                 name.data());
    }
}

// What the error's line adds to libconfig's message: the file an @include names, or the
// setting a duplicate is about.
static void rtmp_conf_error_detail(const char *file, int line, const char *error, char *out,
                                   size_t len)
{
    FILE *f = fopen(file, "r");
    if (f == nullptr) {
        return;
    }
    char buf[1024];
    for (int i = 1; i <= line && fgets(buf, sizeof(buf), f); i++) {
        if (i < line) {
            continue;
        }
        if (strcmp(error, "duplicate setting name") == 0) {
            rtmp_conf_duplicate_name(buf, out, len);
            break;
        }
        const char *at = strstr(buf, "@include");
        const char *open = at ? strchr(at, '"') : nullptr;
        const char *close = open ? strchr(open + 1, '"') : nullptr;
        if (close) {
            snprintf(out, len, " \"%.*s\"", (int)(close - open - 1), open + 1);
        }
    }
    fclose(f);
}

rtmp_int_t rtmp_conf_parse(rtmp_conf_t *cf, const char *path)
{
    config_t config;
    config_init(&config);
    cf->config = &config;
    cf->error[0] = '\0';

    // relative @include paths, in included files too, start at the main file's directory
    char *dir = strdup(path);
    config_set_include_dir(&config, dirname(dir));
    free(dir);

    rtmp_int_t rc = RTMP_ERROR;
    rtmp_cycle_t *cycle = cf->cycle;

    if (config_read_file(&config, path) != CONFIG_TRUE) {
        const char *file = config_error_file(&config);
        if (config_error_type(&config) == CONFIG_ERR_FILE_IO && file == nullptr) {
            snprintf(cf->error, sizeof(cf->error), "%s: cannot read: %s", path, strerror(errno));
        } else {
            char name[256] = "";
            rtmp_conf_error_detail(file ? file : path, config_error_line(&config),
                                   config_error_text(&config), name, sizeof(name));
            snprintf(cf->error, sizeof(cf->error), "%s:%d: %s%s", file ? file : path,
                     config_error_line(&config), config_error_text(&config), name);
        }
        goto done;
    }

    {
        cycle->main_conf = rtmp_conf_create(cf, &rtmp_module_t::create_main_conf);
        // rtmp-level defaults for servers and applications
        void **rtmp_srv = rtmp_conf_create(cf, &rtmp_module_t::create_srv_conf);
        void **rtmp_app = rtmp_conf_create(cf, &rtmp_module_t::create_app_conf);

        config_setting_t *root = config_root_setting(&config);
        rtmp_conf_ctx_t ctx = {RTMP_CONF_MAIN, rtmp_srv, rtmp_app};
        if (rtmp_conf_block(cf, &ctx, root) != RTMP_OK) {
            goto done;
        }

        for (size_t m = 0; rtmp_modules[m]; m++) {
            if (rtmp_modules[m]->init_main_conf) {
                const char *err = rtmp_modules[m]->init_main_conf(cf, cycle->main_conf[m]);
                if (err) {
                    if (err[0]) { // "": cf->error says where already
                        snprintf(cf->error, sizeof(cf->error), "%s: %s", path, err);
                    }
                    goto done;
                }
            }
        }

        // Merge outward-in: rtmp -> server -> application.
        for (size_t i = 0; i < cycle->nservers; i++) {
            rtmp_conf_srv_t *srv = cycle->servers[i];
            if (rtmp_conf_merge(cf, srv, nullptr, rtmp_srv, srv->srv_conf,
                                &rtmp_module_t::merge_srv_conf) != RTMP_OK ||
                rtmp_conf_merge(cf, srv, nullptr, rtmp_app, srv->app_conf,
                                &rtmp_module_t::merge_app_conf) != RTMP_OK) {
                goto done;
            }
            for (size_t a = 0; a < srv->napps; a++) {
                rtmp_conf_app_t *app = srv->apps[a];
                if (rtmp_conf_merge(cf, srv, app, srv->app_conf, app->app_conf,
                                    &rtmp_module_t::merge_app_conf) != RTMP_OK) {
                    goto done;
                }
            }
        }
        rc = RTMP_OK;
    }

done:
    config_destroy(&config);
    cf->config = nullptr;
    return rc;
}
