// Exec command templates: blank-split command lines and $variable substitution in argv.
#include "rtmp/rtmp_exec_argv.h"

static bool rtmp_exec_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

int rtmp_exec_split(std::string_view line, std::string_view *words, size_t max)
{
    size_t n = 0;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && rtmp_exec_blank(line[i])) {
            i++;
        }
        size_t start = i;
        while (i < line.size() && !rtmp_exec_blank(line[i])) {
            i++;
        }
        if (i == start) {
            break;
        }
        if (n == max) {
            return -1;
        }
        words[n++] = line.substr(start, i - start);
    }
    return (int)n;
}

static bool rtmp_exec_ident(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

// One piece of a template: literal text, or the name of a variable ("args.KEY" included).
// Returns false on a lone '$' or an unclosed "${".
static bool rtmp_exec_next(std::string_view *tmpl, std::string_view *literal, std::string_view *var)
{
    std::string_view t = *tmpl;
    *literal = {};
    *var = {};
    if (t[0] != '$') {
        size_t next = t.find('$');
        *literal = t.substr(0, next);
        *tmpl = next == std::string_view::npos ? std::string_view() : t.substr(next);
        return true;
    }
    if (t.size() >= 2 && t[1] == '$') {
        *literal = t.substr(0, 1);
        *tmpl = t.substr(2);
        return true;
    }
    if (t.size() >= 2 && t[1] == '{') {
        size_t end = t.find('}');
        if (end == std::string_view::npos || end == 2) {
            return false;
        }
        *var = t.substr(2, end - 2);
        *tmpl = t.substr(end + 1);
        return true;
    }
    size_t end = 1;
    while (end < t.size() && rtmp_exec_ident(t[end])) {
        end++;
    }
    if (end == 1) {
        return false;
    }
    *var = t.substr(1, end - 1);
    *tmpl = t.substr(end);
    return true;
}

static bool rtmp_exec_args_key(std::string_view var, std::string_view *key)
{
    if (var.starts_with("args.") && var.size() > 5) {
        *key = var.substr(5);
        return true;
    }
    return false;
}

const char *rtmp_exec_check(std::string_view tmpl, const std::string_view *names, size_t nnames)
{
    while (!tmpl.empty()) {
        std::string_view literal, var, key;
        if (!rtmp_exec_next(&tmpl, &literal, &var)) {
            return "a template whose $ starts $name, ${name} or ${args.KEY} ($$ for a $)";
        }
        if (var.empty()) {
            continue;
        }
        std::string_view want = rtmp_exec_args_key(var, &key) ? std::string_view("args") : var;
        bool known = false;
        for (size_t i = 0; i < nnames; i++) {
            known = known || names[i] == want;
        }
        if (!known) {
            return "a template whose variables are known ones (write ${name}_x, not $name_x)";
        }
    }
    return nullptr;
}

ssize_t rtmp_exec_expand(std::string_view tmpl, const rtmp_exec_var_t *vars, size_t nvars,
                         char *out, size_t len)
{
    size_t n = 0;
    while (!tmpl.empty()) {
        std::string_view piece, var, key;
        if (!rtmp_exec_next(&tmpl, &piece, &var)) {
            return -1;
        }
        if (!var.empty()) {
            bool arg = rtmp_exec_args_key(var, &key);
            std::string_view want = arg ? std::string_view("args") : var;
            size_t i = 0;
            while (i < nvars && vars[i].name != want) {
                i++;
            }
            if (i == nvars) {
                return -1;
            }
            piece = arg ? rtmp_query_arg(vars[i].value, key) : vars[i].value;
        }
        if (n + piece.size() >= len) {
            return -1;
        }
        if (!piece.empty()) { // an empty view may have no data pointer at all
            memcpy(out + n, piece.data(), piece.size());
        }
        n += piece.size();
    }
    if (len == 0) {
        return -1;
    }
    out[n] = '\0';
    return (ssize_t)n;
}
