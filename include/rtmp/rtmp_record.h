// The record module: recorders per application writing published streams to files through a
// container writer (FLV now), with buffered writes and a record-done chain other modules join.
#pragma once

#include "core/rtmp_module.h"
#include "rtmp/rtmp_session.h"

#include <climits>

extern rtmp_module_t rtmp_record_module;

// What a recorder takes from the stream (the `what` setting).
enum rtmp_record_what : unsigned {
    RTMP_RECORD_AUDIO = 0x01,
    RTMP_RECORD_VIDEO = 0x02,
    RTMP_RECORD_KEYFRAMES = 0x04, // video key frames only (with their sequence headers)
    RTMP_RECORD_MANUAL = 0x08,    // only when the publisher (or the control API) asks
};

typedef struct rtmp_recorder_s rtmp_recorder_t;
typedef struct rtmp_record_writer_s rtmp_record_writer_t;

// One recorder block of an application, as configured.
struct rtmp_record_conf_t {
    rtmp_str_t name;   // recorder name: the record=NAME publish argument, callbacks, the log
    unsigned what;     // rtmp_record_what
    rtmp_str_t path;   // template: strftime(3) codes, $app, $name
    bool unique;       // an existing file is kept: "-1", "-2"... before the extension
    bool append;       // an existing file is continued
    uint64_t max_size; // bytes per file; 0: no limit
    uint64_t max_frames;
    rtmp_msec_t max_duration; // 0: no limit
    rtmp_msec_t interval;     // a new file this often, cut at a key frame; 0: one file
    size_t buffer;            // bytes buffered before a write
    rtmp_msec_t flush;        // buffered bytes are written at least this often
    uint32_t index;           // keyframe index entries reserved in onMetaData
    rtmp_msec_t fragment;     // mp4: the longest fragment (key frames cut sooner)
    bool faststart;           // mp4: rewritten with the moov first on close
    const rtmp_record_writer_t *writer;
    const char *file; // where the block is, for messages
    int line;
};

struct rtmp_record_app_conf_t {
    rtmp_record_conf_t *recs;
    rtmp_int_t n; // RTMP_CONF_UNSET: inherited from the outer block
};

// One frame as a writer sees it: the timestamp counts from the start of the file.
struct rtmp_record_frame_t {
    uint8_t type;                    // RTMP_MSG_AUDIO or RTMP_MSG_VIDEO
    uint32_t ts;                     // milliseconds from the file's first frame
    bool key;                        // a video key frame
    bool header;                     // a sequence header
    std::span<const u_char> payload; // the FLV tag body, as RTMP carries it
};

// What the publisher told about the stream (its metadata and sequence headers), for writers.
struct rtmp_record_info_t {
    double width, height, framerate, videodatarate, audiodatarate, audiosamplerate;
    double videocodecid, audiocodecid; // from the sequence headers (FLV ids or FourCCs)
    bool stereo;
    bool has_video; // a video sequence header or metadata announcing video
    bool has_audio;
};

// A container writer. A recorder calls open when a file begins, frame for every frame it keeps,
// close when the file ends. A frame the file cannot take (a sequence header that changes the
// codec config) makes frame return RTMP_DECLINED: the recorder ends the file ("codec change")
// and begins the next with the new headers. The writer produces bytes with rtmp_record_put()
// (buffered, in order) and, in close only, patches earlier bytes with rtmp_record_rewrite(); when
// the file is continued (r->appending), open may look at it with rtmp_record_read(). A format is
// one such table: "flv" is rtmp_record_flv_writer, "mp4" rtmp_record_mp4_writer.
struct rtmp_record_writer_s {
    const char *name; // the `format` setting
    rtmp_int_t (*open)(rtmp_recorder_t *r);
    rtmp_int_t (*frame)(rtmp_recorder_t *r, const rtmp_record_frame_t *f);
    rtmp_int_t (*close)(rtmp_recorder_t *r); // also frees what open allocated
    // Optional: after a timed flush, everything put so far is on disk; the writer may patch
    // earlier bytes with rtmp_record_rewrite() so a file cut by a crash is more complete.
    rtmp_int_t (*sync)(rtmp_recorder_t *r);
    bool append; // an existing file of this format can be continued
};

extern const rtmp_record_writer_t rtmp_record_flv_writer;
extern const rtmp_record_writer_t rtmp_record_mp4_writer;

// One recorder working for one published stream.
struct rtmp_recorder_s {
    const rtmp_record_conf_t *conf;
    const rtmp_record_info_t *info; // the stream's, kept current
    rtmp_event_t flush;             // the flush timer
    rtmp_log_t *log;
    int fd;             // -1: no file open
    bool armed;         // records (a manual recorder only once asked)
    bool append;        // files are continued (the setting, or the publish type "append")
    bool appending;     // this file was opened to be continued
    bool beside;        // this file goes beside an existing one, as with unique
    bool stopped;       // a limit was reached: waits for the next interval, if any
    bool failed;        // an error stopped it for the rest of the publish
    bool removed;       // the writer's close removed the file: nothing it could hold came
    int err;            // errno of the write that failed
    uint64_t start;     // offset in the file where this recording began (0 unless appending)
    uint64_t offset;    // bytes of the file, buffered ones included
    uint64_t pending;   // bytes the writer holds for the file still (a fragment), at most
    u_char *buf;        // rtmp_alloc'd while a file is open
    size_t len;         // buffered bytes
    uint32_t base;      // stream timestamp of the file's first frame
    uint32_t ts_offset; // added to file timestamps (appending after an earlier recording)
    uint32_t last;      // file timestamp of the latest frame
    uint32_t delta;     // the latest frame interval (video if any), so duration covers it
    uint32_t prev[2];   // file timestamp of the latest audio [0] and video [1] frame
    bool have_prev[2];
    uint64_t frames;    // frames in this file
    rtmp_msec_t opened; // wall clock at open, for strftime and the log
    bool need_key;      // video waits for the file's first key frame
    bool audio_written;
    bool video_written;
    void *writer_ctx; // the writer's own state for this file
    char path[PATH_MAX];
};

// Buffers bytes for the file; RTMP_ERROR once writing failed (the recorder is stopping).
[[nodiscard]] rtmp_int_t rtmp_record_put(rtmp_recorder_t *r, const u_char *p, size_t len);
// Writes what is buffered, then `len` bytes at `offset`, in place; for writers' close.
[[nodiscard]] rtmp_int_t rtmp_record_rewrite(rtmp_recorder_t *r, uint64_t offset, const u_char *p,
                                             size_t len);

// Reads `len` bytes of the file at `offset` (what is already on disk); for writers' open when
// appending.
[[nodiscard]] rtmp_int_t rtmp_record_read(rtmp_recorder_t *r, uint64_t offset, u_char *p,
                                          size_t len);

// The end of one file, as the record-done chain gets it.
struct rtmp_record_done_t {
    rtmp_session_t *s; // the publisher: still open while the chain runs
    rtmp_stream_t *st;
    std::string_view app, name, recorder, path;
    double duration;    // seconds of media in the file (this recording, when appending)
    uint64_t size;      // bytes of the file
    const char *reason; // "unpublish", "interval", "max_size", "error: ..." and so on
    bool no_file;       // it could not be opened: reported, but there is nothing to act on
};

// Runs once per file closed; a module saves the previous handler and calls it (the end of the
// chain does nothing). notify sends on_record_done from here.
typedef void (*rtmp_record_done_pt)(const rtmp_record_done_t *rd);
extern rtmp_record_done_pt rtmp_record_done_handler;

// Expands $app, $name (both sanitised: no '/' and no leading '.', so a name cannot leave the
// directory; '%' kept literal) and then strftime(3) codes at time t into out; false when the
// result does not fit or is empty.
[[nodiscard]] bool rtmp_record_expand(std::string_view tmpl, std::string_view app,
                                      std::string_view name, time_t t, char *out, size_t len);

// Which manual recorders a publish asks for: the publish type "record" or "append" (as FMS)
// or the argument record=on (all of them) or record=NAME[,NAME...]; append set for "append".
[[nodiscard]] bool rtmp_record_wanted(const rtmp_record_conf_t *rc, std::string_view type,
                                      std::string_view args, bool *append);

// Starts or stops a recorder of a stream published in this worker, for a control API:
// RTMP_DECLINED when there is no such stream or recorder here.
[[nodiscard]] rtmp_int_t rtmp_record_control(rtmp_conf_app_t *app, std::string_view name,
                                             std::string_view recorder, bool start);
