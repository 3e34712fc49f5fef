// Warnings at a worker's start for directories it will write in but cannot, so an operator
// reads about a wrong owner (the `user` directive) before the first publish fails on it.
#pragma once

#include "core/rtmp_core.h"

// Warns, from the first worker only, when the workers could not create files under `path`,
// a directory that may not exist yet (the nearest one above it that does decides, as a
// mkdir -p from there would). `what` names the directive, file:line where it is set.
void rtmp_path_check_dir(const char *file, int line, const char *what, std::string_view path);

// The same for the directory a file name template writes in: the part before the first
// variable ($name) or strftime code (%Y), up to its last '/'.
void rtmp_path_check_template(const char *file, int line, const char *what, std::string_view tmpl);
