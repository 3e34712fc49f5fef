#!/bin/sh
# Records the captures used by tests/unit/check_chunk.cpp:
#   publish_c2s.bin  client->server bytes of an ffmpeg publish (C0C1, C2, then chunks)
#   play_s2c.bin     server->client bytes of an rtmpdump play (S0S1S2, then nginx's chunks)
# through proxy.py in front of a throwaway nginx with Debian's libnginx-mod-rtmp.
# usage: sh tests/data/chunk/capture.sh   (from the repository root; ports 19351/19352)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
NGX_PORT=19351
PROXY_PORT=19352

cat > "$tmp/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
master_process off;
error_log $tmp/error.log info;
pid $tmp/nginx.pid;
events { worker_connections 64; }
rtmp {
    server {
        listen 127.0.0.1:$NGX_PORT;
        application live { live on; }
    }
}
CONF

# A small clip: H.264 + AAC when x264 exists, else FLV1 + MP3.
if ffmpeg -hide_banner -encoders 2>/dev/null | grep -q libx264; then
    venc="-c:v libx264 -preset veryfast -b:v 250k -g 25"; aenc="-c:a aac -b:a 48k"
else
    venc="-c:v flv -b:v 250k -g 25"; aenc="-c:a libmp3lame -b:a 48k"
fi
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=size=320x240:rate=25 \
    -f lavfi -i sine -t 3 $venc $aenc -f flv "$tmp/test.flv"

nginx -p "$tmp" -c "$tmp/nginx.conf" & ngx=$!
python3 "$here/proxy.py" $PROXY_PORT $NGX_PORT "$tmp" & px=$!
sleep 1

# conn1: the publisher; conn2: the player, started once the stream exists.
ffmpeg -hide_banner -loglevel error -re -i "$tmp/test.flv" -c copy -f flv \
    rtmp://127.0.0.1:$PROXY_PORT/live/x & ff=$!
sleep 0.7
rtmpdump -q -v -r rtmp://127.0.0.1:$PROXY_PORT/live/x -o "$tmp/out.flv" & rd=$!
wait $ff
sleep 1
kill $rd 2>/dev/null || true
wait $rd 2>/dev/null || true
sleep 0.3
kill $px $ngx
wait $px $ngx 2>/dev/null || true

cp "$tmp/conn1.c2s" "$here/publish_c2s.bin"
cp "$tmp/conn2.s2c" "$here/play_s2c.bin"
ls -l "$here"/*.bin
rm -rf "$tmp"
