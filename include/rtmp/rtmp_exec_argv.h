// Exec command templates, I/O-free: splitting a command line into argv and substituting
// $variables inside each argv element (never through a shell).
#pragma once

#include "core/rtmp_core.h"

// Bounds on one command, so a template and its expansion fit fixed buffers.
constexpr size_t RTMP_EXEC_MAX_ARGS = 64;     // argv elements of one command
constexpr size_t RTMP_EXEC_MAX_ARG = 4096;    // bytes of one expanded element, NUL included
constexpr size_t RTMP_EXEC_MAX_TOTAL = 32768; // bytes of all expanded elements

// One variable: $name or ${name} in a template becomes value, byte for byte.
struct rtmp_exec_var_t {
    std::string_view name;
    std::string_view value;
};

// Splits a command written as one string on blanks (space, tab, newline); no quoting, no
// escapes: an argument with blanks in it is written in the list form instead.
// Returns the number of words stored in words[0..max), or -1 when there are more than max.
[[nodiscard]] int rtmp_exec_split(std::string_view line, std::string_view *words, size_t max);

// Checks a template against the variable names a directive offers (`args.KEY` is offered
// with "args"); nullptr when good, else what is wrong with it.
[[nodiscard]] const char *rtmp_exec_check(std::string_view tmpl, const std::string_view *names,
                                          size_t nnames);

// Expands a template into out (NUL-terminated): $name, ${name}, ${args.KEY} (the value of
// KEY in the "args" variable, a query string "a=1&b=2"; empty when absent) and $$ for one $.
// Values are copied as they are and never expanded again. Returns the length, or -1 when
// the template is bad (an unknown variable, a lone $) or the result does not fit in len.
[[nodiscard]] ssize_t rtmp_exec_expand(std::string_view tmpl, const rtmp_exec_var_t *vars,
                                       size_t nvars, char *out, size_t len);
