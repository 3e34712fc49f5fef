// libFuzzer harness: arbitrary bytes as audio, video and data payloads; results stay in bounds.
#include <cstdlib>

#include "core/rtmp_log.h"
#include "rtmp/rtmp_codec.h"

// The first input byte picks the message type (its low bits), the rest is the payload.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    static constexpr uint8_t types[4] = {RTMP_MSG_VIDEO, RTMP_MSG_AUDIO, RTMP_MSG_AMF_META,
                                         RTMP_MSG_AMF3_META};
    uint8_t type = types[data[0] & 3];
    std::span<const u_char> in{data + 1, size - 1};

    rtmp_codec_video_t v;
    if (rtmp_codec_parse_video(in, &v) == RTMP_OK) {
        if (v.header_len > in.size() || (size_t)v.header_len + v.data_len > in.size()) {
            abort();
        }
        std::span<const u_char> rec = in.subspan(v.header_len, v.data_len);
        rtmp_codec_avc_config_t avc;
        rtmp_codec_hevc_config_t hevc;
        rtmp_codec_av1_config_t av1;
        rtmp_codec_vp9_config_t vp9;
        // every record parser on every payload: they must not trust the header
        (void)rtmp_codec_parse_avcc(rec, &avc);
        (void)rtmp_codec_parse_hvcc(rec, &hevc);
        (void)rtmp_codec_parse_av1c(rec, &av1);
        (void)rtmp_codec_parse_vpcc(rec, &vp9);
        if (v.is_key_frame && (v.is_sequence_header || v.is_command || v.is_end_of_sequence)) {
            abort();
        }
    }

    rtmp_codec_audio_t a;
    if (rtmp_codec_parse_audio(in, &a) == RTMP_OK) {
        if (a.header_len > in.size() || (size_t)a.header_len + a.data_len > in.size()) {
            abort();
        }
        rtmp_codec_aac_config_t c;
        (void)rtmp_codec_parse_aac_config(in.subspan(a.header_len, a.data_len), &c);
    }

    rtmp_message_t m{};
    m.h.type = type;
    m.h.mlen = (uint32_t)in.size();
    m.payload = in;
    rtmp_codec_info_t ci = rtmp_codec_classify(&m);
    if (ci.droppable && (ci.is_key_frame || ci.is_sequence_header || ci.is_metadata)) {
        abort();
    }

    if (type == RTMP_MSG_AMF_META || type == RTMP_MSG_AMF3_META) {
        rtmp_pool_t *pool = rtmp_pool_create(4096, &rtmp_log_stderr_log);
        rtmp_amf_limits_t lim = {.max_depth = 16, .max_values = 1024, .max_string = 4096};
        rtmp_codec_meta_t meta;
        const char *err;
        if (rtmp_codec_parse_metadata(pool, type, in, &lim, &meta, &err) == RTMP_OK &&
            meta.kind != rtmp_codec_data::pass_through) {
            rtmp_amf_prop_t extra[] = {
                rtmp_amf_prop("server", rtmp_amf_string("rtmp_server")),
                rtmp_amf_prop("width", rtmp_amf_number(1)),
            };
            rtmp_buf_t *b = rtmp_buf_create(pool, 2 * size + 256);
            // what was written must decode back as onMetaData with the same kind of object
            if (rtmp_codec_write_metadata(b, &meta, extra, 2) == RTMP_OK) {
                rtmp_codec_meta_t back;
                // two more values than came in: a little more room than the first decode
                rtmp_amf_limits_t more = {.max_depth = 16, .max_values = 2048, .max_string = 4096};
                if (rtmp_codec_data_kind(RTMP_MSG_AMF_META, rtmp_buf_span(b)) !=
                        rtmp_codec_data::on_meta_data ||
                    rtmp_codec_parse_metadata(pool, RTMP_MSG_AMF_META, rtmp_buf_span(b), &more,
                                              &back, &err) != RTMP_OK ||
                    back.kind != rtmp_codec_data::on_meta_data || back.width != 1) {
                    abort();
                }
            }
            rtmp_buf_t *small = rtmp_buf_create(pool, 16);
            (void)rtmp_codec_write_metadata(small, &meta, nullptr, 0);
        }
        rtmp_pool_destroy(pool);
    }
    return 0;
}
