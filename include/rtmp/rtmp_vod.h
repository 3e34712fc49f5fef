// VOD: play of FLV and MP4 files from an application's play directories, paced at real time.
#pragma once

#include "core/rtmp_module.h"
#include "rtmp/rtmp_session.h"

extern rtmp_module_t rtmp_vod_module;

// The longest relative path a play name may give (with the extension added).
constexpr size_t RTMP_VOD_MAX_PATH = RTMP_MAX_NAME + 8;

// What a play name asks for: the file names to try, in order, relative to each play
// directory. "mp4:clip.mp4" and "flv:clip" pick the format by prefix; "clip.flv" by its
// extension; a bare "clip" tries clip.flv, then clip.mp4. Returns how many candidates
// (0, 1 or 2), or -1 for a name that could leave the directory: absolute, with a "." or
// ".." component, an empty component, a backslash or a control character.
int rtmp_vod_candidates(std::string_view name, char out[2][RTMP_VOD_MAX_PATH + 1]);
