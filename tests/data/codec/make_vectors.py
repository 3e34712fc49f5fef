#!/usr/bin/env python3
# Regenerates the codec test vectors in this directory from ffmpeg output (see README.md).
import os
import struct
import subprocess
import sys
import tempfile

OUT = os.path.dirname(os.path.abspath(__file__))
FF = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
SRC = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"]


def ff(*args):
    subprocess.run(FF + list(args), check=True)


def flv_tags(path):
    """(type, timestamp, payload) for every tag: 9-byte header + 4, then 11 + data + 4."""
    d = open(path, "rb").read()
    p = 13
    while p + 11 <= len(d):
        n = struct.unpack(">I", b"\0" + d[p + 1:p + 4])[0]
        yield d[p], d[p + 4:p + 8], d[p + 11:p + 11 + n]
        p += 11 + n + 4


def box(path, name):
    """Payload of the first ISOBMFF box called name (searched by bytes: the files are tiny)."""
    d = open(path, "rb").read()
    i = d.index(name.encode())
    n = struct.unpack(">I", d[i - 4:i])[0]
    return d[i + 4:i - 4 + n]


def samples(path, count):
    """First samples of a one-track MP4: stsz sizes, data from the start of mdat."""
    stsz = box(path, "stsz")
    sizes = struct.unpack(">%dI" % count, stsz[12:12 + 4 * count])
    mdat = box(path, "mdat")
    out, p = [], 0
    for s in sizes:
        out.append(mdat[p:p + s])
        p += s
    return out


def put(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def ex_video(frame, ptype, fourcc, body, cts=None):
    """Enhanced RTMP v2 ExVideoTagHeader: IsExHeader | FrameType << 4 | PacketType, FourCC."""
    h = bytes([0x80 | frame << 4 | ptype]) + fourcc.encode()
    if cts is not None:
        h += struct.pack(">i", cts)[1:]
    return h + body


def ex_audio(ptype, fourcc, body):
    """Enhanced RTMP v2 ExAudioTagHeader: SoundFormat 9 << 4 | AudioPacketType, FourCC."""
    return bytes([0x90 | ptype]) + fourcc.encode() + body


def main():
    tmp = tempfile.mkdtemp()
    j = lambda n: os.path.join(tmp, n)

    # H.264 + AAC exactly as in the brief (testsrc is RGB, so x264 picks High 4:4:4)
    ff(*SRC, "-f", "lavfi", "-i", "sine", "-t", "2", "-c:v", "libx264", "-g", "25",
       "-c:a", "aac", "-f", "flv", j("avc_aac.flv"))
    seen = set()
    for t, _, p in flv_tags(j("avc_aac.flv")):
        if t == 18:
            key = "flv_onmetadata"
        elif t == 9:
            key = {0x17: "avc_", 0x27: "avc_inter"}.get(p[0], "?")
            if key == "avc_":
                key = {0: "avc_seq", 1: "avc_key", 2: "avc_eos"}[p[1]]
        else:
            key = "aac_seq" if p[1] == 0 else "aac_raw"
        if key not in seen:
            seen.add(key)
            put(key + ".bin", p)

    # the usual 4:2:0 stream, and 1080p for SPS frame cropping (1088 coded lines)
    for name, size in (("avc420_seq", "320x240"), ("avc1080_seq", "1920x1080")):
        ff("-f", "lavfi", "-i", "testsrc=size=%s:rate=25" % size, "-t", "0.04", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", "-an", "-f", "flv", j(name + ".flv"))
        put(name + ".bin", next(p for t, _, p in flv_tags(j(name + ".flv")) if t == 9))

    # Sorenson H.263 + MP3
    ff(*SRC, "-f", "lavfi", "-i", "sine", "-t", "0.2", "-c:v", "flv1", "-c:a", "libmp3lame",
       "-ar", "44100", "-f", "flv", j("h263.flv"))
    tags = list(flv_tags(j("h263.flv")))
    put("h263_key.bin", next(p for t, _, p in tags if t == 9 and p[0] >> 4 == 1)[:64])
    put("mp3_frame.bin", next(p for t, _, p in tags if t == 8))

    # ffmpeg 5.1 cannot put HEVC/AV1/VP9 in FLV: real configuration records and
    # frames from MP4, wrapped in Enhanced RTMP v2 headers by ex_video()
    ff(*SRC, "-t", "0.2", "-c:v", "libx265", "-pix_fmt", "yuv420p", "-g", "25",
       "-x265-params", "log-level=error:bframes=0", "-an", "-f", "mp4", j("hevc.mp4"))
    hvcc = box(j("hevc.mp4"), "hvcC")
    key, inter = samples(j("hevc.mp4"), 2)
    put("hevc_seq.bin", ex_video(1, 0, "hvc1", hvcc))
    put("hevc_key.bin", ex_video(1, 1, "hvc1", key[:256], cts=0))
    put("hevc_inter_x.bin", ex_video(2, 3, "hvc1", inter[:64]))
    # the pre-E-RTMP form (codec id 12) of Chinese CDNs and patched ffmpeg
    put("hevc_legacy_seq.bin", bytes([0x1c, 0, 0, 0, 0]) + hvcc)

    ff(*SRC, "-t", "0.12", "-c:v", "libaom-av1", "-cpu-used", "8", "-pix_fmt", "yuv420p",
       "-g", "25", "-an", "-f", "mp4", j("av1.mp4"))
    put("av1_seq.bin", ex_video(1, 0, "av01", box(j("av1.mp4"), "av1C")))
    put("av1_key.bin", ex_video(1, 1, "av01", samples(j("av1.mp4"), 1)[0][:256]))

    ff(*SRC, "-t", "0.12", "-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-g", "25", "-an",
       "-f", "mp4", j("vp9.mp4"))
    put("vp9_seq.bin", ex_video(1, 0, "vp09", box(j("vp9.mp4"), "vpcC")))
    put("vp9_inter.bin", ex_video(2, 1, "vp09", samples(j("vp9.mp4"), 2)[1][:64]))

    # Opus: SequenceStart carries the RFC 7845 5.1 ID header, rebuilt from MP4's dOps
    ff("-f", "lavfi", "-i", "sine", "-t", "0.1", "-c:a", "libopus", "-f", "mp4", j("opus.mp4"))
    _, ch, skip, rate, gain, fam = struct.unpack(">BBHIhB", box(j("opus.mp4"), "dOps")[:11])
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, ch, skip, rate, gain, fam)
    put("opus_seq.bin", ex_audio(0, "Opus", head))
    put("opus_frame.bin", ex_audio(1, "Opus", samples(j("opus.mp4"), 1)[0]))

    # FLAC: the STREAMINFO metadata block from MP4's dfLa (after its version and flags)
    ff("-f", "lavfi", "-i", "sine", "-t", "0.1", "-c:a", "flac", "-strict", "-2", "-f", "mp4",
       j("flac.mp4"))
    put("flac_seq.bin", ex_audio(0, "fLaC", box(j("flac.mp4"), "dfLa")[4:]))

    # AAC as E-RTMP 'mp4a': the same AudioSpecificConfig as aac_seq.bin
    put("mp4a_seq.bin", ex_audio(0, "mp4a", open(os.path.join(OUT, "aac_seq.bin"), "rb").read()[2:]))


if __name__ == "__main__":
    sys.exit(main())
