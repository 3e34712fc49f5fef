// Codec awareness: FLV/Enhanced RTMP audio and video tag headers, sequence headers, metadata.
#pragma once

#include "core/rtmp_core.h"
#include "core/rtmp_buf.h"
#include "core/rtmp_pool.h"
#include "rtmp/rtmp_amf.h"
#include "rtmp/rtmp_message.h"

// Everything here is I/O-free and allocation-free except the metadata
// functions, which decode into the caller's pool. Parsers only read the
// payload they are given and never keep pointers into it.

// One id space for audio and video so a classified message carries one field.
enum class rtmp_codec_id : uint8_t {
    unknown = 0, // forward as is: an id or FourCC this server does not know
    // video: FLV spec v10.1 E.4.3.1 CodecID, Enhanced RTMP v2 VideoFourCc
    jpeg,
    h263, // Sorenson H.263
    screen,
    vp6,
    vp6a,
    screen2,
    avc,
    hevc,
    av1,
    vp9,
    vp8,
    // audio: FLV spec v10.1 E.4.2.1 SoundFormat, Enhanced RTMP v2 AudioFourCc
    pcm, // platform endian
    adpcm,
    mp3,
    pcm_le,
    nellymoser_16k,
    nellymoser_8k,
    nellymoser,
    g711a,
    g711u,
    aac,
    speex,
    mp3_8k,
    device, // SoundFormat 15, device-specific
    opus,
    flac,
    ac3,
    eac3,
};

constexpr uint32_t rtmp_codec_fourcc(const char (&s)[5])
{
    return (uint32_t)(u_char)s[0] << 24 | (uint32_t)(u_char)s[1] << 16 |
           (uint32_t)(u_char)s[2] << 8 | (uint32_t)(u_char)s[3];
}

// FLV spec v10.1 E.4.3.1 FrameType; Enhanced RTMP v2 VideoFrameType is the same.
enum rtmp_codec_frame : uint8_t {
    RTMP_CODEC_FRAME_KEY = 1,
    RTMP_CODEC_FRAME_INTER = 2,
    RTMP_CODEC_FRAME_DISPOSABLE = 3, // H.263 only in legacy FLV
    RTMP_CODEC_FRAME_GENERATED_KEY = 4,
    RTMP_CODEC_FRAME_COMMAND = 5, // video info/command frame, not media
};

// Legacy AVCPacketType (FLV spec v10.1 E.4.3.1), also used by codec id 12 (HEVC).
enum rtmp_codec_avc_packet : uint8_t {
    RTMP_CODEC_AVC_SEQUENCE_HEADER = 0,
    RTMP_CODEC_AVC_NALU = 1,
    RTMP_CODEC_AVC_END_OF_SEQUENCE = 2,
};

// Enhanced RTMP v2 VideoPacketType.
enum rtmp_codec_video_packet : uint8_t {
    RTMP_CODEC_VIDEO_SEQUENCE_START = 0,
    RTMP_CODEC_VIDEO_CODED_FRAMES = 1,
    RTMP_CODEC_VIDEO_SEQUENCE_END = 2,
    RTMP_CODEC_VIDEO_CODED_FRAMES_X = 3, // CodedFrames with an implied zero composition time
    RTMP_CODEC_VIDEO_METADATA = 4,       // AMF body (e.g. HDR colorInfo), not a frame
    RTMP_CODEC_VIDEO_MPEG2TS_SEQUENCE_START = 5,
    RTMP_CODEC_VIDEO_MULTITRACK = 6,
    RTMP_CODEC_VIDEO_MODEX = 7,
};

// Enhanced RTMP v2 AudioPacketType; legacy AACPacketType is 0 header, 1 raw.
enum rtmp_codec_audio_packet : uint8_t {
    RTMP_CODEC_AUDIO_SEQUENCE_START = 0,
    RTMP_CODEC_AUDIO_CODED_FRAMES = 1,
    RTMP_CODEC_AUDIO_SEQUENCE_END = 2,
    RTMP_CODEC_AUDIO_MULTICHANNEL_CONFIG = 4,
    RTMP_CODEC_AUDIO_MULTITRACK = 5,
    RTMP_CODEC_AUDIO_MODEX = 7,
};

// Enhanced RTMP v2 AvMultitrackType.
enum rtmp_codec_multitrack : uint8_t {
    RTMP_CODEC_ONE_TRACK = 0,
    RTMP_CODEC_MANY_TRACKS = 1,
    RTMP_CODEC_MANY_TRACKS_MANY_CODECS = 2,
};

// What one video message (type 9, an FLV VIDEODATA body) is.
struct rtmp_codec_video_t {
    rtmp_codec_id codec;
    uint8_t codec_id;    // legacy CodecID; 0 when enhanced
    uint8_t frame_type;  // rtmp_codec_frame (0, 6, 7 reserved)
    uint8_t packet_type; // legacy AVC/HEVC: AVCPacketType; enhanced: VideoPacketType of the
                         // data (after ModEx and Multitrack are unwrapped)
    uint8_t command;     // frame_type 5: VideoCommand (0 start seek, 1 end seek)
    uint8_t multitrack_type;
    uint8_t track_id;    // multitrack: the first track's
    uint32_t fourcc;     // enhanced: as received, also when unknown; 0 when legacy
    int32_t cts;         // composition time offset, ms (SI24)
    uint32_t header_len; // payload[header_len] is where the codec data starts
    uint32_t data_len;   // codec data bytes from there (the first track's, if multitrack)
    bool enhanced;
    bool multitrack;
    bool is_sequence_header; // AVC/HEVC sequence header, SequenceStart, MPEG2TSSequenceStart
    bool is_key_frame;       // a key frame's coded data, never a header or command
    bool is_end_of_sequence;
    bool is_command;
    bool is_metadata; // enhanced Metadata packet
};

// What one audio message (type 8, an FLV AUDIODATA body) is.
struct rtmp_codec_audio_t {
    rtmp_codec_id codec;
    uint8_t sound_format; // SoundFormat; 9 = Enhanced RTMP ExHeader
    uint8_t sound_rate;   // legacy: 0 5.5 kHz, 1 11 kHz, 2 22 kHz, 3 44 kHz
    uint8_t sound_size;   // legacy: 0 8-bit, 1 16-bit
    uint8_t sound_type;   // legacy: 0 mono, 1 stereo
    uint8_t packet_type;  // AAC: AACPacketType; enhanced: AudioPacketType of the data
    uint8_t multitrack_type;
    uint8_t track_id;
    uint32_t fourcc;
    uint32_t header_len;
    uint32_t data_len;
    bool enhanced;
    bool multitrack;
    bool is_sequence_header; // AAC AudioSpecificConfig or SequenceStart
    bool is_end_of_sequence;
    bool is_multichannel_config;
};

// Both return RTMP_OK for any readable header, with codec unknown for ids
// and FourCCs this server does not know: those must still be forwarded.
// RTMP_ERROR for an empty payload or a known header cut short or
// inconsistent; the fields read up to that point are set.
[[nodiscard]] rtmp_int_t rtmp_codec_parse_video(std::span<const u_char> payload,
                                                rtmp_codec_video_t *v);
[[nodiscard]] rtmp_int_t rtmp_codec_parse_audio(std::span<const u_char> payload,
                                                rtmp_codec_audio_t *a);

// ---- sequence headers: the bytes at header_len of a sequence header message ---------

// ISO 14496-15 5.3.3.1 AVCDecoderConfigurationRecord, and its first SPS.
struct rtmp_codec_avc_config_t {
    uint8_t profile; // AVCProfileIndication (66 baseline, 77 main, 100 high, ...)
    uint8_t compat;  // profile_compatibility (constraint flags)
    uint8_t level;   // AVCLevelIndication, level * 10
    uint8_t nal_length_size;
    uint8_t nsps;
    uint8_t npps;
    uint8_t chroma_format; // from the SPS: 0 mono, 1 4:2:0, 2 4:2:2, 3 4:4:4
    uint8_t bit_depth;     // luma, from the SPS
    uint32_t width;        // from the SPS after cropping; 0 when it could not be read
    uint32_t height;
};

// ISO 14496-15 8.3.3.1 HEVCDecoderConfigurationRecord, and its first SPS.
struct rtmp_codec_hevc_config_t {
    uint8_t profile_space;
    uint8_t tier;
    uint8_t profile; // general_profile_idc (1 Main, 2 Main 10, 4 RExt, ...)
    uint8_t level;   // general_level_idc, level * 30
    uint8_t nal_length_size;
    uint8_t chroma_format;
    uint8_t bit_depth; // luma
    uint8_t narrays;
    uint32_t compat; // general_profile_compatibility_flags
    uint32_t width;  // from the SPS after the conformance window; 0 when unread
    uint32_t height;
};

// AV1 Codec ISO Media File Format Binding 2.3 AV1CodecConfigurationRecord,
// and the sequence header OBU in configOBUs when there is one.
struct rtmp_codec_av1_config_t {
    uint8_t seq_profile;
    uint8_t seq_level_idx;
    uint8_t seq_tier;
    uint8_t bit_depth; // 8, 10 or 12
    uint8_t monochrome;
    uint8_t subsampling_x;
    uint8_t subsampling_y;
    uint32_t width; // max_frame_width_minus_1 + 1; 0 without a sequence header OBU
    uint32_t height;
};

// VP Codec ISO Media File Format Binding: vpcC version 1 as a FullBox body
// (version, flags, then VPCodecConfigurationRecord), which is what ffmpeg's
// FLV muxer sends for 'vp09'.
struct rtmp_codec_vp9_config_t {
    uint8_t profile;
    uint8_t level;
    uint8_t bit_depth;
    uint8_t chroma_subsampling;
    uint8_t full_range;
};

// ISO 14496-3 1.6.2.1 AudioSpecificConfig, the fields that matter for logs and HLS.
struct rtmp_codec_aac_config_t {
    uint8_t object_type; // 2 LC, 5 SBR (HE-AAC), 29 PS, ...
    uint8_t sampling_index;
    uint8_t channel_config;
    uint32_t sample_rate;
};

// RTMP_ERROR when the record is cut short or is not version 1; the SPS (or
// sequence header OBU) is read best effort and only sets width and height.
[[nodiscard]] rtmp_int_t rtmp_codec_parse_avcc(std::span<const u_char> rec,
                                               rtmp_codec_avc_config_t *c);
[[nodiscard]] rtmp_int_t rtmp_codec_parse_hvcc(std::span<const u_char> rec,
                                               rtmp_codec_hevc_config_t *c);
[[nodiscard]] rtmp_int_t rtmp_codec_parse_av1c(std::span<const u_char> rec,
                                               rtmp_codec_av1_config_t *c);
[[nodiscard]] rtmp_int_t rtmp_codec_parse_vpcc(std::span<const u_char> rec,
                                               rtmp_codec_vp9_config_t *c);
[[nodiscard]] rtmp_int_t rtmp_codec_parse_aac_config(std::span<const u_char> asc,
                                                     rtmp_codec_aac_config_t *c);

// ---- metadata -------------------------------------------------------------------------

enum class rtmp_codec_data : uint8_t {
    pass_through = 0, // onTextData, onCuePoint, |RtmpSampleAccess, anything else
    set_data_frame,   // "@setDataFrame" "onMetaData" {...}: what ffmpeg and OBS publish
    on_meta_data,     // "onMetaData" {...}
};

// Without decoding anything: which of the above a data message (type 18, or
// 15 with its leading 0 byte) is, by its first one or two strings.
rtmp_codec_data rtmp_codec_data_kind(uint8_t type, std::span<const u_char> payload);

enum : uint32_t {
    RTMP_CODEC_META_WIDTH = 0x01,
    RTMP_CODEC_META_HEIGHT = 0x02,
    RTMP_CODEC_META_FRAMERATE = 0x04,
    RTMP_CODEC_META_VIDEOCODECID = 0x08,
    RTMP_CODEC_META_AUDIOCODECID = 0x10,
    RTMP_CODEC_META_VIDEODATARATE = 0x20,
    RTMP_CODEC_META_AUDIODATARATE = 0x40,
};

struct rtmp_codec_meta_t {
    rtmp_codec_data kind;
    const rtmp_amf_value_t *object; // the object or ECMA array, in the pool
    uint32_t has;                   // RTMP_CODEC_META_* present as numbers
    double width;
    double height;
    double framerate;
    double videocodecid; // FLV CodecID, or a FourCC (Enhanced RTMP: number or 4-char string)
    double audiocodecid;
    double videodatarate; // kbit/s
    double audiodatarate;
};

// Decodes a metadata message into pool. RTMP_OK with kind pass_through (and
// nothing decoded) for any other data message, or when what follows
// "onMetaData" is not an object or ECMA array. RTMP_ERROR, *err set, when a
// metadata message does not decode.
[[nodiscard]] rtmp_int_t rtmp_codec_parse_metadata(rtmp_pool_t *pool, uint8_t type,
                                                   std::span<const u_char> payload,
                                                   const rtmp_amf_limits_t *limits,
                                                   rtmp_codec_meta_t *m, const char **err);

// Appends at b->last the type 18 payload players get: "onMetaData" and the
// object with every original property in order, the @setDataFrame dropped.
// A property in extra replaces every property of that name; extra ones not
// present are added at the end. RTMP_ERROR when b is too small (reset b->last
// to retry) or m is not metadata; RTMP_DECLINED when the object came as AMF3
// with references in it, which cannot be split into AMF0 properties: forward
// the message as it came (no encoder seen in the wild sends AMF3 metadata).
[[nodiscard]] rtmp_int_t rtmp_codec_write_metadata(rtmp_buf_t *b, const rtmp_codec_meta_t *m,
                                                   const rtmp_amf_prop_t *extra, uint32_t nextra);

// ---- classification for the live module -----------------------------------------------

enum class rtmp_codec_kind : uint8_t {
    other = 0, // not audio, video or data (aggregates are split before this)
    audio,
    video,
    data,
};

// Droppable: what a slow player may lose, i.e. video inter and disposable
// frames, which only cost picture until the next key frame. Never key frames,
// sequence headers, end of sequence, commands, metadata or data messages.
// Audio is not droppable here: it is a small share of the bytes and a gap is
// heard at once, so as in nginx-rtmp the live module drops audio only when a
// queue is nearly full, by its own rule, before disconnecting the player.
struct rtmp_codec_info_t {
    rtmp_codec_kind kind;
    rtmp_codec_id codec;
    uint8_t frame_type; // video
    bool is_sequence_header;
    bool is_key_frame;
    bool is_end_of_sequence;
    bool is_command;
    bool is_metadata; // onMetaData or @setDataFrame onMetaData
    bool is_config;   // other state a late joiner needs: Enhanced RTMP video Metadata
                      // (HDR colour info) and audio MultichannelConfig
    bool droppable;
    bool malformed; // the header parser failed; forward or drop by policy
};

// Never fails and never allocates; reads at most the first few header bytes.
rtmp_codec_info_t rtmp_codec_classify(const rtmp_message_t *m);

const char *rtmp_codec_name(rtmp_codec_id id);
