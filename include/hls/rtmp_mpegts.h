// MPEG-TS muxer for HLS: H.264/HEVC + AAC media messages into 188-byte transport packets.
#pragma once

#include "core/rtmp_core.h"
#include "rtmp/rtmp_message.h"

// I/O-free and allocation-free: the muxer is one plain struct (about 21 KB, put it in
// the stream's pool) and hands whole packets to the caller's output handler, which
// writes them to the segment file or a buffer. Every public call leaves nothing
// staged except packed audio (see rtmp_mpegts_flush), so the caller may close and
// switch files between calls.
//
// Layout (ISO 13818-1): PAT on PID 0 and PMT on PID 0x1000 at every segment start,
// program 1; video on 0x100 (0x1b H.264, 0x24 HEVC), audio on 0x101 (0x0f ADTS AAC).
// PCR rides on the first packet of every video PES, or of every audio PES when the
// program has no video. Timestamps are the input milliseconds * 90 plus
// RTMP_MPEGTS_DELAY, and PCR is the same clock without the delay, so PTS/DTS always
// lead PCR by 700 ms (as nginx-rtmp and ffmpeg's mpegts muxer do) and a small
// negative composition time still gives a positive PTS.
//
// Video: one access unit per PES (PES_packet_length 0, allowed for video, 2.4.3.7),
// AVCC/HVCC length prefixes replaced by Annex B start codes, an access unit
// delimiter put first when the frame has none, and the sequence header's
// parameter sets put after it before a key frame that lacks them, so every segment
// and every key frame decodes on its own.
//
// Audio: AAC frames get a 7-byte ADTS header each (ISO 13818-7 6.2) and are packed,
// several per PES as ffmpeg and nginx-rtmp do, until the pack holds
// RTMP_MPEGTS_AUDIO_PACK bytes or spans audio_delay ms: one PES per 23 ms frame would
// spend a third of the bytes on headers and stuffing.

constexpr size_t RTMP_MPEGTS_PACKET = 188;
constexpr uint16_t RTMP_MPEGTS_PID_PMT = 0x1000;
constexpr uint16_t RTMP_MPEGTS_PID_VIDEO = 0x100;
constexpr uint16_t RTMP_MPEGTS_PID_AUDIO = 0x101;
constexpr uint64_t RTMP_MPEGTS_DELAY = 63000; // 700 ms in 90 kHz ticks, PTS lead over PCR

constexpr size_t RTMP_MPEGTS_STAGE = 32;        // packets handed to the output at once
constexpr size_t RTMP_MPEGTS_PARAMS = 4096;     // parameter set bytes kept from a sequence header
constexpr size_t RTMP_MPEGTS_NPARAMS = 16;      // parameter sets kept
constexpr size_t RTMP_MPEGTS_AUDIO_PACK = 2930; // ffmpeg's default PES payload size
constexpr size_t RTMP_MPEGTS_AUDIO_BUF = RTMP_MPEGTS_AUDIO_PACK + 8192; // + one ADTS frame

// Receives len bytes, a whole number of packets; RTMP_OK or RTMP_ERROR (which the
// muxer call then returns).
typedef rtmp_int_t (*rtmp_mpegts_output_pt)(void *data, const u_char *p, size_t len);

enum class rtmp_mpegts_video : uint8_t {
    none = 0,
    avc,
    hevc,
};

typedef struct rtmp_mpegts_s rtmp_mpegts_t;
struct rtmp_mpegts_s {
    rtmp_mpegts_output_pt output;
    void *data;
    uint64_t audio_delay; // ms an audio pack may span

    // video sequence header
    rtmp_mpegts_video video;
    uint8_t nal_length_size;
    uint8_t nparams;
    uint16_t params_len;
    uint16_t param_off[RTMP_MPEGTS_NPARAMS];
    uint16_t param_len[RTMP_MPEGTS_NPARAMS];
    u_char params[RTMP_MPEGTS_PARAMS];

    // audio sequence header
    bool audio;
    uint8_t adts_profile; // ADTS profile = core audio object type - 1
    uint8_t sampling_index;
    uint8_t channel_config;

    // what the current PAT/PMT announce; a stream configured later gets a new PMT
    bool started;
    bool pmt_video;
    bool pmt_audio;
    uint8_t pmt_version;
    uint8_t cc_pat;
    uint8_t cc_pmt;
    uint8_t cc_video;
    uint8_t cc_audio;

    // packed audio not yet written
    uint64_t audio_pts; // ms, of the first frame in the pack
    size_t audio_len;
    u_char audio_buf[RTMP_MPEGTS_AUDIO_BUF];

    size_t staged; // packets in stage
    u_char stage[RTMP_MPEGTS_STAGE * RTMP_MPEGTS_PACKET];
};

// audio_delay: ms one audio PES may span (0 writes every AAC frame as its own PES;
// nginx-rtmp's hls_max_audio_delay is 300).
void rtmp_mpegts_init(rtmp_mpegts_t *mx, rtmp_mpegts_output_pt output, void *data,
                      uint64_t audio_delay);

// The bytes at header_len of a sequence header: an AVCDecoderConfigurationRecord or
// HEVCDecoderConfigurationRecord, an AudioSpecificConfig. RTMP_ERROR when malformed;
// RTMP_DECLINED for an AAC config ADTS cannot carry (object type above 4 other than
// SBR/PS, explicit sampling rate, channel configuration 0). A new config replaces the
// old one for the frames that follow.
[[nodiscard]] rtmp_int_t rtmp_mpegts_set_video_config(rtmp_mpegts_t *mx, rtmp_mpegts_video codec,
                                                      std::span<const u_char> record);
[[nodiscard]] rtmp_int_t rtmp_mpegts_set_audio_config(rtmp_mpegts_t *mx,
                                                      std::span<const u_char> asc);

// Writes PAT and PMT for the configured streams: call it for each new segment
// (after rtmp_mpegts_flush and the file switch). Frames written before the first
// call start a segment themselves.
[[nodiscard]] rtmp_int_t rtmp_mpegts_start_segment(rtmp_mpegts_t *mx);

// One coded video frame: the length-prefixed NAL units (the bytes at header_len of
// the message). dts in ms, cts the composition offset in ms. RTMP_ERROR when the NAL
// lengths overrun the frame; RTMP_DECLINED without a video config.
[[nodiscard]] rtmp_int_t rtmp_mpegts_write_video(rtmp_mpegts_t *mx, uint64_t dts, int32_t cts,
                                                 bool key, std::span<const u_char> nalus);

// One raw AAC frame. RTMP_ERROR when it cannot be framed (over 8184 bytes);
// RTMP_DECLINED without an audio config. It may stay packed until a later call.
[[nodiscard]] rtmp_int_t rtmp_mpegts_write_audio(rtmp_mpegts_t *mx, uint64_t pts,
                                                 std::span<const u_char> aac);

// Writes packed audio out: call it before closing a segment.
[[nodiscard]] rtmp_int_t rtmp_mpegts_flush(rtmp_mpegts_t *mx);

// What the live module calls with each audio or video message, its timestamp made
// absolute and monotonic (the stream's timeline, in ms): sequence headers set the
// config, frames are written. RTMP_DECLINED for what HLS does not carry (other
// codecs, multitrack, end of sequence, commands, metadata, frames before their
// sequence header); RTMP_ERROR for a malformed message.
[[nodiscard]] rtmp_int_t rtmp_mpegts_write_message(rtmp_mpegts_t *mx, uint64_t timestamp,
                                                   const rtmp_message_t *m);

// ISO 13818-1 Annex A CRC-32 (polynomial 0x04c11db7, MSB first, no final xor).
uint32_t rtmp_mpegts_crc32(std::span<const u_char> p);
