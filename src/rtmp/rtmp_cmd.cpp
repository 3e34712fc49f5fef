// RTMP command messages: parse into name/tid/object/args, typed fields, reply payloads.
#include "rtmp/rtmp_cmd.h"

#include <algorithm>
#include <cstdio>

struct rtmp_cmd_name_t {
    std::string_view name;
    rtmp_cmd_kind kind;
};

static constexpr rtmp_cmd_name_t rtmp_cmd_names[] = {
    {"connect", rtmp_cmd_kind::connect},
    {"call", rtmp_cmd_kind::call},
    {"close", rtmp_cmd_kind::close},
    {"createStream", rtmp_cmd_kind::create_stream},
    {"releaseStream", rtmp_cmd_kind::release_stream},
    {"FCPublish", rtmp_cmd_kind::fc_publish},
    {"FCUnpublish", rtmp_cmd_kind::fc_unpublish},
    {"FCSubscribe", rtmp_cmd_kind::fc_subscribe},
    {"publish", rtmp_cmd_kind::publish},
    {"play", rtmp_cmd_kind::play},
    {"play2", rtmp_cmd_kind::play2},
    {"deleteStream", rtmp_cmd_kind::delete_stream},
    {"closeStream", rtmp_cmd_kind::close_stream},
    {"pause", rtmp_cmd_kind::pause},
    {"pauseRaw", rtmp_cmd_kind::pause}, // Flash Player 9+ sends it for live pause
    {"seek", rtmp_cmd_kind::seek},
    {"receiveAudio", rtmp_cmd_kind::receive_audio},
    {"receiveVideo", rtmp_cmd_kind::receive_video},
    {"getStreamLength", rtmp_cmd_kind::get_stream_length},
    {"_checkbw", rtmp_cmd_kind::check_bw},
    {"_result", rtmp_cmd_kind::result},
    {"_error", rtmp_cmd_kind::error},
    {"onStatus", rtmp_cmd_kind::on_status},
};

rtmp_cmd_kind rtmp_cmd_kind_of(std::string_view name)
{
    for (const auto &n : rtmp_cmd_names) {
        if (n.name == name) {
            return n.kind;
        }
    }
    return rtmp_cmd_kind::unknown;
}

rtmp_int_t rtmp_cmd_parse(rtmp_pool_t *pool, uint8_t type, std::span<const u_char> payload,
                          const rtmp_amf_limits_t *limits, rtmp_cmd_t *cmd, const char **err)
{
    rtmp_amf_value_t *v;
    uint32_t n;
    static const rtmp_amf_value_t null_value = rtmp_amf_null();

    *cmd = rtmp_cmd_t{};
    if (rtmp_amf_decode_message(pool, type, payload, limits, &v, &n, err) != RTMP_OK) {
        return RTMP_ERROR;
    }
    if (n == 0 || v[0].type != rtmp_amf_type::string) {
        *err = "command name is not a string";
        return RTMP_ERROR;
    }
    cmd->name = v[0].str;
    cmd->kind = rtmp_cmd_kind_of(cmd->name.sv());
    cmd->object = &null_value;
    cmd->args = nullptr;
    if (n > 1 && !rtmp_amf_as_number(&v[1], &cmd->tid)) {
        *err = "command transaction id is not a number";
        return RTMP_ERROR;
    }
    if (n > 2) {
        cmd->object = &v[2];
    }
    if (n > 3) {
        cmd->args = &v[3];
        cmd->nargs = n - 3;
    }
    return RTMP_OK;
}

void rtmp_cmd_split_args(rtmp_str_t *name, rtmp_str_t *args)
{
    *args = rtmp_str_t{};
    const void *q = name->len ? memchr(name->data, '?', name->len) : nullptr;
    if (q == nullptr) {
        return;
    }
    size_t at = (size_t)(static_cast<const u_char *>(q) - name->data);
    args->data = name->data + at + 1;
    args->len = name->len - at - 1;
    name->len = at;
}

static const rtmp_amf_value_t *rtmp_cmd_arg(const rtmp_cmd_t *cmd, uint32_t i)
{
    return i < cmd->nargs ? &cmd->args[i] : nullptr;
}

static bool rtmp_cmd_is_none(const rtmp_amf_value_t *v)
{
    return v == nullptr || v->type == rtmp_amf_type::null || v->type == rtmp_amf_type::undefined;
}

rtmp_int_t rtmp_cmd_get_connect(const rtmp_cmd_t *cmd, rtmp_cmd_connect_t *v, const char **err)
{
    const rtmp_amf_value_t *o = cmd->object;

    *v = rtmp_cmd_connect_t{};
    v->tid = cmd->tid;
    if (o->type != rtmp_amf_type::object && o->type != rtmp_amf_type::ecma_array) {
        *err = "connect without a command object";
        return RTMP_ERROR;
    }
    (void)rtmp_amf_get_string(o, "app", &v->app);
    (void)rtmp_amf_get_string(o, "flashVer", &v->flashver);
    (void)rtmp_amf_get_string(o, "swfUrl", &v->swf_url);
    (void)rtmp_amf_get_string(o, "tcUrl", &v->tc_url);
    (void)rtmp_amf_get_string(o, "pageUrl", &v->page_url);
    (void)rtmp_amf_get_string(o, "type", &v->type);
    (void)rtmp_amf_get_number(o, "objectEncoding", &v->object_encoding);
    (void)rtmp_amf_get_number(o, "capabilities", &v->capabilities);
    (void)rtmp_amf_get_number(o, "audioCodecs", &v->audio_codecs);
    (void)rtmp_amf_get_number(o, "videoCodecs", &v->video_codecs);
    (void)rtmp_amf_get_number(o, "videoFunction", &v->video_function);
    (void)rtmp_amf_get_bool(o, "fpad", &v->fpad);
    v->fourcc_list = rtmp_amf_get(o, "fourCcList");
    v->args = rtmp_cmd_arg(cmd, 0);

    // Encoders put credentials in the app ("live?key=x", as nginx-rtmp splits it).
    rtmp_cmd_split_args(&v->app, &v->app_args);
    // Some clients (old FMLE) end the app with a slash.
    while (v->app.len && v->app.data[v->app.len - 1] == '/') {
        v->app.len--;
    }
    if (v->object_encoding != 0 && v->object_encoding != 3) {
        *err = "connect with an unknown objectEncoding";
        return RTMP_ERROR;
    }
    return RTMP_OK;
}

static bool rtmp_cmd_name_arg(const rtmp_amf_value_t *a, rtmp_cmd_stream_t *v)
{
    if (rtmp_cmd_is_none(a)) {
        return true;
    }
    if (a->type != rtmp_amf_type::string) {
        return false;
    }
    v->name = a->str;
    rtmp_cmd_split_args(&v->name, &v->args);
    return true;
}

rtmp_int_t rtmp_cmd_get_stream(const rtmp_cmd_t *cmd, rtmp_cmd_stream_t *v, const char **err)
{
    const rtmp_amf_value_t *a;

    *v = rtmp_cmd_stream_t{};
    v->tid = cmd->tid;
    v->type = rtmp_string("live");
    v->start = -2;
    v->duration = -1;
    v->reset = true;

    switch (cmd->kind) {
    case rtmp_cmd_kind::release_stream:
    case rtmp_cmd_kind::fc_publish:
    case rtmp_cmd_kind::fc_unpublish:
    case rtmp_cmd_kind::fc_subscribe:
    case rtmp_cmd_kind::get_stream_length:
        if (!rtmp_cmd_name_arg(rtmp_cmd_arg(cmd, 0), v)) {
            *err = "stream name is not a string";
            return RTMP_ERROR;
        }
        return RTMP_OK;

    case rtmp_cmd_kind::publish:
        if (!rtmp_cmd_name_arg(rtmp_cmd_arg(cmd, 0), v) || v->name.len == 0) {
            *err = "publish without a stream name";
            return RTMP_ERROR;
        }
        a = rtmp_cmd_arg(cmd, 1);
        if (!rtmp_cmd_is_none(a)) {
            if (a->type != rtmp_amf_type::string ||
                (a->str.sv() != "live" && a->str.sv() != "record" && a->str.sv() != "append")) {
                *err = "publish with an unknown type";
                return RTMP_ERROR;
            }
            v->type = a->str;
        }
        return RTMP_OK;

    case rtmp_cmd_kind::play:
        if (!rtmp_cmd_name_arg(rtmp_cmd_arg(cmd, 0), v) || v->name.len == 0) {
            *err = "play without a stream name";
            return RTMP_ERROR;
        }
        (void)rtmp_amf_as_number(rtmp_cmd_arg(cmd, 1), &v->start);
        (void)rtmp_amf_as_number(rtmp_cmd_arg(cmd, 2), &v->duration);
        a = rtmp_cmd_arg(cmd, 3);
        if (a && a->type == rtmp_amf_type::boolean) {
            v->reset = a->boolean;
        } else if (double r; rtmp_amf_as_number(a, &r)) {
            v->reset = r != 0; // old Flash sent a number here
        }
        return RTMP_OK;

    case rtmp_cmd_kind::play2: {
        // NetStreamPlayOptions: {streamName, oldStreamName, start, len, offset, transition}
        a = rtmp_cmd_arg(cmd, 0);
        if (a == nullptr || a->type != rtmp_amf_type::object ||
            !rtmp_amf_get_string(a, "streamName", &v->name) || v->name.len == 0) {
            *err = "play2 without streamName";
            return RTMP_ERROR;
        }
        rtmp_cmd_split_args(&v->name, &v->args);
        (void)rtmp_amf_get_number(a, "start", &v->start);
        (void)rtmp_amf_get_number(a, "len", &v->duration);
        rtmp_str_t transition;
        if (rtmp_amf_get_string(a, "transition", &transition)) {
            v->type = transition;
        } else {
            v->type = rtmp_null_string;
        }
        v->reset = false;
        return RTMP_OK;
    }

    default:
        *err = "not a stream command";
        return RTMP_ERROR;
    }
}

rtmp_int_t rtmp_cmd_get_control(const rtmp_cmd_t *cmd, rtmp_cmd_control_t *v, const char **err)
{
    const rtmp_amf_value_t *a = rtmp_cmd_arg(cmd, 0);

    *v = rtmp_cmd_control_t{};
    v->tid = cmd->tid;

    switch (cmd->kind) {
    case rtmp_cmd_kind::delete_stream:
        // some clients name the stream instead (GStreamer's rtmp2sink): 0, the caller's guess
        if (!rtmp_amf_as_number(a, &v->stream_id)) {
            v->stream_id = 0;
        }
        return RTMP_OK;

    case rtmp_cmd_kind::close_stream:
    case rtmp_cmd_kind::create_stream:
        return RTMP_OK;

    case rtmp_cmd_kind::pause:
        if (a == nullptr || a->type != rtmp_amf_type::boolean) {
            *err = "pause without a flag";
            return RTMP_ERROR;
        }
        v->flag = a->boolean;
        (void)rtmp_amf_as_number(rtmp_cmd_arg(cmd, 1), &v->ms);
        return RTMP_OK;

    case rtmp_cmd_kind::seek:
        if (!rtmp_amf_as_number(a, &v->ms)) {
            *err = "seek without a position";
            return RTMP_ERROR;
        }
        return RTMP_OK;

    case rtmp_cmd_kind::receive_audio:
    case rtmp_cmd_kind::receive_video:
        if (a == nullptr || a->type != rtmp_amf_type::boolean) {
            *err = "receiveAudio/receiveVideo without a flag";
            return RTMP_ERROR;
        }
        v->flag = a->boolean;
        return RTMP_OK;

    default:
        *err = "not a stream control command";
        return RTMP_ERROR;
    }
}

// ---- replies ---------------------------------------------------------------------------

// Writes the values in order; on failure b is left as it was.
static rtmp_int_t rtmp_cmd_write(rtmp_buf_t *b, const rtmp_amf_value_t *v, size_t n)
{
    u_char *last = b->last;
    for (size_t i = 0; i < n; i++) {
        if (rtmp_amf0_encode(b, &v[i]) != RTMP_OK) {
            b->last = last;
            return RTMP_ERROR;
        }
    }
    return RTMP_OK;
}

// The fmsVer and capabilities that ffmpeg, OBS and Flash accept; nginx-rtmp and
// SRS send the same so clients key no behaviour off a newer version.
rtmp_int_t rtmp_cmd_connect_result(rtmp_buf_t *b, double tid, double object_encoding)
{
    rtmp_amf_prop_t props[] = {
        rtmp_amf_prop("fmsVer", rtmp_amf_string("FMS/3,0,1,123")),
        rtmp_amf_prop("capabilities", rtmp_amf_number(31)),
    };
    rtmp_amf_prop_t info[] = {
        rtmp_amf_prop("level", rtmp_amf_string("status")),
        rtmp_amf_prop("code", rtmp_amf_string("NetConnection.Connect.Success")),
        rtmp_amf_prop("description", rtmp_amf_string("Connection succeeded.")),
        rtmp_amf_prop("objectEncoding", rtmp_amf_number(object_encoding)),
    };
    rtmp_amf_value_t v[] = {
        rtmp_amf_string("_result"),
        rtmp_amf_number(tid),
        rtmp_amf_object(props, rtmp_nelems(props)),
        rtmp_amf_object(info, rtmp_nelems(info)),
    };
    return rtmp_cmd_write(b, v, rtmp_nelems(v));
}

static rtmp_int_t rtmp_cmd_error(rtmp_buf_t *b, double tid, std::string_view code,
                                 std::string_view description)
{
    rtmp_amf_prop_t info[] = {
        rtmp_amf_prop("level", rtmp_amf_string("error")),
        rtmp_amf_prop("code", rtmp_amf_string(code)),
        rtmp_amf_prop("description", rtmp_amf_string(description)),
    };
    rtmp_amf_value_t v[] = {
        rtmp_amf_string("_error"),
        rtmp_amf_number(tid),
        rtmp_amf_null(),
        rtmp_amf_object(info, rtmp_nelems(info)),
    };
    return rtmp_cmd_write(b, v, rtmp_nelems(v));
}

rtmp_int_t rtmp_cmd_connect_error(rtmp_buf_t *b, double tid, std::string_view description)
{
    return rtmp_cmd_error(b, tid, "NetConnection.Connect.Rejected", description);
}

rtmp_int_t rtmp_cmd_call_error(rtmp_buf_t *b, double tid, std::string_view method)
{
    char desc[192];
    // The method name comes from the peer: cut it, the reply stays small.
    int n = snprintf(desc, sizeof(desc), "Method not found (%.*s).",
                     (int)std::min<size_t>(method.size(), 128), method.data());
    return rtmp_cmd_error(b, tid, "NetConnection.Call.Failed", std::string_view(desc, (size_t)n));
}

rtmp_int_t rtmp_cmd_result(rtmp_buf_t *b, double tid, const rtmp_amf_value_t *value)
{
    rtmp_amf_value_t v[] = {
        rtmp_amf_string("_result"),
        rtmp_amf_number(tid),
        rtmp_amf_null(),
        value ? *value : rtmp_amf_null(),
    };
    return rtmp_cmd_write(b, v, value ? 4 : 3);
}

rtmp_int_t rtmp_cmd_create_stream_result(rtmp_buf_t *b, double tid, uint32_t stream_id)
{
    rtmp_amf_value_t id = rtmp_amf_number(stream_id);
    return rtmp_cmd_result(b, tid, &id);
}

rtmp_int_t rtmp_cmd_stream_length_result(rtmp_buf_t *b, double tid, double length)
{
    rtmp_amf_value_t len = rtmp_amf_number(length);
    return rtmp_cmd_result(b, tid, &len);
}

static constexpr rtmp_cmd_status_t rtmp_cmd_statuses[] = {
    {"status", "NetStream.Publish.Start", "Start publishing", {}, {}},
    // OBS/librtmp stop on BadName and tell the user the key is in use or wrong
    {"error", "NetStream.Publish.BadName", "Already publishing", {}, {}},
    {"status", "NetStream.Unpublish.Success", "Stop publishing", {}, {}},
    {"status", "NetStream.Play.Reset", "Playing and resetting", {}, {}},
    {"status", "NetStream.Play.Start", "Start live", {}, {}},
    {"status", "NetStream.Play.Stop", "Stop live", {}, {}},
    {"error", "NetStream.Play.StreamNotFound", "No such stream", {}, {}},
    {"status", "NetStream.Play.UnpublishNotify", "Stream unpublished", {}, {}},
    {"status", "NetStream.Play.PublishNotify", "Stream published", {}, {}},
    {"status", "NetStream.Pause.Notify", "Paused live", {}, {}},
    {"status", "NetStream.Unpause.Notify", "Unpaused live", {}, {}},
};
static_assert(rtmp_nelems(rtmp_cmd_statuses) == (size_t)rtmp_cmd_status_id::unpause_notify + 1);

rtmp_cmd_status_t rtmp_cmd_status(rtmp_cmd_status_id id)
{
    size_t i = (size_t)id;
    return i < rtmp_nelems(rtmp_cmd_statuses) ? rtmp_cmd_statuses[i] : rtmp_cmd_statuses[0];
}

rtmp_int_t rtmp_cmd_on_status(rtmp_buf_t *b, const rtmp_cmd_status_t *st)
{
    rtmp_amf_prop_t info[5];
    uint32_t n = 0;

    info[n++] = rtmp_amf_prop("level", rtmp_amf_string(st->level));
    info[n++] = rtmp_amf_prop("code", rtmp_amf_string(st->code));
    info[n++] = rtmp_amf_prop("description", rtmp_amf_string(st->description));
    // FMS sends details (the stream name) and clientid; some players show them
    if (!st->details.empty()) {
        info[n++] = rtmp_amf_prop("details", rtmp_amf_string(st->details));
    }
    if (!st->clientid.empty()) {
        info[n++] = rtmp_amf_prop("clientid", rtmp_amf_string(st->clientid));
    }
    rtmp_amf_value_t v[] = {
        rtmp_amf_string("onStatus"),
        rtmp_amf_number(0),
        rtmp_amf_null(),
        rtmp_amf_object(info, n),
    };
    return rtmp_cmd_write(b, v, rtmp_nelems(v));
}

// FMS answers FCPublish/FCUnpublish with these; FMLE waits for onFCPublish
// before it publishes, ffmpeg and OBS ignore it.
static rtmp_int_t rtmp_cmd_on_fc(rtmp_buf_t *b, std::string_view cmd, std::string_view code,
                                 std::string_view name)
{
    rtmp_amf_prop_t info[] = {
        rtmp_amf_prop("code", rtmp_amf_string(code)),
        rtmp_amf_prop("description", rtmp_amf_string(name)),
    };
    rtmp_amf_value_t v[] = {
        rtmp_amf_string(cmd),
        rtmp_amf_number(0),
        rtmp_amf_null(),
        rtmp_amf_object(info, rtmp_nelems(info)),
    };
    return rtmp_cmd_write(b, v, rtmp_nelems(v));
}

rtmp_int_t rtmp_cmd_on_fc_publish(rtmp_buf_t *b, std::string_view name)
{
    return rtmp_cmd_on_fc(b, "onFCPublish", "NetStream.Publish.Start", name);
}

rtmp_int_t rtmp_cmd_on_fc_unpublish(rtmp_buf_t *b, std::string_view name)
{
    return rtmp_cmd_on_fc(b, "onFCUnpublish", "NetStream.Unpublish.Success", name);
}

// Flash refuses BitmapData.draw()/SoundMixer access to the stream without it.
rtmp_int_t rtmp_cmd_sample_access(rtmp_buf_t *b, bool audio, bool video)
{
    rtmp_amf_value_t v[] = {
        rtmp_amf_string("|RtmpSampleAccess"),
        rtmp_amf_bool(audio),
        rtmp_amf_bool(video),
    };
    return rtmp_cmd_write(b, v, rtmp_nelems(v));
}

// Flash-era clients wait for the bandwidth check to finish before playing.
rtmp_int_t rtmp_cmd_on_bw_done(rtmp_buf_t *b)
{
    rtmp_amf_value_t v[] = {
        rtmp_amf_string("onBWDone"),
        rtmp_amf_number(0),
        rtmp_amf_null(),
    };
    return rtmp_cmd_write(b, v, rtmp_nelems(v));
}
