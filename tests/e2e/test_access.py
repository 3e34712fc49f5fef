"""Who may publish and play: access rules by client address (the shipped rules let 127.0.0.1
publish, a "deny publish 127.0.0.1" refuses ffmpeg) and signed stream keys (minted by
`rtmp_server --sign` and by the openssl command line, refused when missing, wrong, expired or
bound to another address). A refused client sees the exact onStatus and is disconnected."""

import os
import re
import socket
import subprocess
import threading
import time

import harness
import rtmp_client as rc
from harness import ClientProc, check, media_clip, need_tools, run_server_cmd, wait_for
from live_helpers import (FFMPEG_QUIET, PyPlayer, PyPublisher, is_video_key, live_server,
                          players_of, publishers_of, status_code, url)

SECRET = "e2e-publish-secret-0123456789"
PLAY_SECRET = "e2e-play-secret-0123456789"


def shipped_access():
    """The access rules of conf/rtmp.conf, as shipped."""
    with open(os.path.join(harness.REPO, "conf", "rtmp.conf")) as f:
        m = re.search(r"^\s*access = \(.*?\);", f.read(), re.S | re.M)
    check(m, "conf/rtmp.conf has no access rules")
    return m.group(0).strip() + "\n"


def ffmpeg_push(srv, clip, stream, name):
    """ffmpeg publishing the clip as fast as it can (no -re): a short-lived publisher."""
    return ClientProc(FFMPEG_QUIET + ["-i", clip, "-c", "copy", "-f", "flv", url(srv, stream)],
                      srv.dir, name)


def ask(port, app, verb, name, wait=2.0):
    """Connects, creates a stream and sends publish or play of `name` (with its query string);
    returns (code, description) of the onStatus that answers (after a Play.Reset) and whether
    the server then closed the connection within `wait` seconds."""
    c = rc.RtmpClient(port, 5.0)
    try:
        c.handshake()
        v, _ = c.connect_app(app=app)
        check(len(v) >= 4 and isinstance(v[3], dict) and
              v[3].get("code") == "NetConnection.Connect.Success", "connect answered %r" % (v,))
        sid = c.create_stream()
        args = [name, "live"] if verb == "publish" else [name, -2.0]
        c.command(verb, 0, None, *args, msid=sid, csid=8)
        m, _ = c.read_until(lambda x: x.is_command("onStatus") and x.msid == sid and
                            status_code(x) != "NetStream.Play.Reset", 5.0,
                            "onStatus for " + verb)
        info = m.amf()[3]
        closed = c.wait_closed(wait)
        return status_code(m), info.get("description", ""), closed
    finally:
        c.close()


def refused(port, app, verb, name, code, description):
    got, desc, closed = ask(port, app, verb, name)
    check(got == code and desc == description,
          "%s %s/%s: expected %s (%s), got %s (%s)" % (verb, app, name, code, description, got,
                                                      desc))
    check(closed, "%s %s/%s: the refused session was not closed" % (verb, app, name))


def accepted(port, app, verb, name):
    got, desc, closed = ask(port, app, verb, name, 0.2)
    want = "NetStream.Publish.Start" if verb == "publish" else "NetStream.Play.Start"
    check(got == want, "%s %s/%s: expected %s, got %s (%s)" % (verb, app, name, want, got, desc))
    check(not closed, "%s %s/%s: accepted but closed" % (verb, app, name))


def sign(srv, what, *extra):
    r = run_server_cmd(["--sign", what, "-c", srv.conf] + list(extra))
    check(r.returncode == 0 and re.fullmatch(r"\d+-[0-9a-f]{64}\n", r.stdout),
          "--sign %s exited %d: %r %r" % (what, r.returncode, r.stdout, r.stderr))
    check("?key=" + r.stdout.strip() in r.stderr, "--sign printed no URL: %r" % r.stderr)
    return r.stdout.strip()


def openssl_key(secret, app_name, expiry, addr=None):
    """A key minted the way rtmp.conf(5) shows, by the shell, printf and openssl."""
    fmt = "%s\\n%s" + ("\\n%s" if addr else "")
    cmd = "printf '%s' \"$NAME\" \"$EXPIRY\" %s | openssl dgst -sha256 -hmac \"$SECRET\" " \
          "| awk '{print $NF}'" % (fmt, '"$ADDR"' if addr else "")
    env = dict(os.environ, NAME=app_name, EXPIRY=str(expiry), SECRET=secret, ADDR=addr or "")
    r = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=10, env=env,
                       stdin=subprocess.DEVNULL)
    hmac = r.stdout.strip()
    check(r.returncode == 0 and re.fullmatch(r"[0-9a-f]{64}", hmac),
          "openssl pipeline: %r %r" % (r.stdout, r.stderr))
    return "%d-%s" % (expiry, hmac)


def test_refused_encoder_that_sends_on_sees_an_orderly_close():
    """An encoder that sends media right after publish, without waiting for the answer, is
    refused: it reads the refusal and then the end of the stream (a FIN). Before, the server
    closed with that media unread, which sends a reset: a client whose system drops what it
    has not read at a reset (Windows does) lost the reason, and saw only "connection reset"."""
    apps = {"closed": 'live = true; access = ( "deny publish 127.0.0.1" );'}
    with live_server(apps) as srv:
        srv.start()
        c = rc.RtmpClient(srv.port, 5.0)
        try:
            c.handshake()
            c.connect_app(app="closed")
            sid = c.create_stream()
            c.command("publish", 0, None, "t", "live", msid=sid, csid=8)
            audio = rc.chunk_message(4, rc.MSG_AUDIO, sid, 0, b"\xaf\x01" + bytes(4000), 128)

            def send_on():
                try:
                    for _ in range(250):  # 1 MB the server never reads as media
                        c.sock.sendall(audio)
                except OSError:
                    pass
            sender = threading.Thread(target=send_on, daemon=True)
            sender.start()
            got, end = c.rbuf, None
            c.sock.settimeout(5.0)
            while end is None:
                try:
                    b = c.sock.recv(65536)
                    if b:
                        got += b
                    else:
                        end = "FIN"
                except ConnectionResetError:
                    end = "reset"
                except socket.timeout:
                    end = "nothing within 5 s"
            sender.join(5.0)
            check(b"NetStream.Publish.BadName" in got, "the refusal never arrived (%d bytes, "
                  "then %s)" % (len(got), end))
            check(end == "FIN", "after the refusal the connection ended with %s" % end)
        finally:
            c.close()


def test_access_rules():
    need_tools("ffmpeg")
    clip = media_clip(2)
    apps = {"live": "live = true;",
            "closed": 'live = true; access = ( "deny publish 127.0.0.1", '
                      '"deny play 127.0.0.0/8" );'}
    with live_server(apps, server_extra=shipped_access()) as srv:
        srv.start()
        # the shipped rules: 127.0.0.1 publishes (ffmpeg goes through to the end), anyone plays
        ok = ffmpeg_push(srv, clip, "live/s", "pub_ok")
        code = ok.wait(20)
        check(code == 0, "ffmpeg publishing from 127.0.0.1 exited %d: %s"
              % (code, ok.stderr()[-600:]))
        accepted(srv.port, "live", "play", "s")

        # "deny publish 127.0.0.1": ffmpeg fails, the log says who and which rule
        bad = ffmpeg_push(srv, clip, "closed/s", "pub_denied")
        code = bad.wait(20)
        check(code != 0, "ffmpeg publishing to a denied application exited 0")
        needle = 'publish "closed/s" denied by rule "deny publish 127.0.0.1" ('
        srv.wait_log(needle)
        line = [l for l in srv.log().splitlines() if needle in l][0]
        check("[info]" in line and "client: 127.0.0.1:" in line and "/rtmp.conf:" in line,
              "the refusal's log line: %s" % line)
        refused(srv.port, "closed", "publish", "t", "NetStream.Publish.BadName",
                "Access denied: this address may not publish here")
        refused(srv.port, "closed", "play", "t", "NetStream.Play.StreamNotFound",
                "Access denied: this address may not play here")
        srv.wait_log('play "closed/t" denied by rule "deny play 127.0.0.0/8"')


test_access_rules.TIME_LIMIT = 30


def test_publish_keys():
    need_tools("ffmpeg", "openssl")
    clip = media_clip(2)
    apps = {"live": 'live = true; publish_key_secret = "%s";' % SECRET,
            "watch": 'live = true; play_key_secret = "%s";' % PLAY_SECRET}
    with live_server(apps) as srv:
        srv.start()
        port = srv.port
        # minted by rtmp_server --sign from the configuration: ffmpeg publishes with it
        key = sign(srv, "live/cam1", "--expires", "2m")
        expiry = int(key.split("-")[0])
        check(abs(expiry - (time.time() + 120)) < 5, "--expires 2m gave expiry %d" % expiry)
        pub = ffmpeg_push(srv, clip, "live/cam1?key=" + key, "pub_key")
        code = pub.wait(20)
        check(code == 0, "ffmpeg with a --sign key exited %d: %s" % (code, pub.stderr()[-600:]))
        srv.wait_log("args key=***", 5.0)
        check(key.split("-")[1] not in srv.log(), "the stream key is in the log")

        # minted by printf | openssl dgst, as the man page shows
        now = int(time.time())
        accepted(port, "live", "publish", "cam2?key=" + openssl_key(SECRET, "live/cam2", now + 60))
        # bound to the client's address (both ways of minting agree)
        accepted(port, "live", "publish",
                 "cam3?key=" + openssl_key(SECRET, "live/cam3", now + 60, "127.0.0.1"))
        accepted(port, "live", "publish",
                 "cam4?key=" + sign(srv, "live/cam4", "--bind", "::ffff:127.0.0.1"))

        deny = "NetStream.Publish.BadName"
        refused(port, "live", "publish", "cam5", deny, "Access denied: stream key missing")
        refused(port, "live", "publish", "cam5?key=", deny, "Access denied: stream key missing")
        refused(port, "live", "publish", "cam5?key=12345-abc", deny,
                "Access denied: stream key malformed")
        refused(port, "live", "publish",
                "cam5?key=" + openssl_key("another-secret-0123456789", "live/cam5", now + 60),
                deny, "Access denied: stream key invalid")
        refused(port, "live", "publish", "cam5?key=" + key, deny,  # cam1's key
                "Access denied: stream key invalid")
        refused(port, "live", "publish",
                "cam5?key=" + openssl_key(SECRET, "live/cam5", now - 5), deny,
                "Access denied: stream key expired")
        refused(port, "live", "publish",
                "cam5?key=" + sign(srv, "live/cam5", "--bind", "127.0.0.2"), deny,
                "Access denied: stream key invalid")
        srv.wait_log('publish "live/cam5" refused: expired key')

        # ffmpeg with a wrong key gives up (no retry loop) and the log says why
        bad = ffmpeg_push(srv, clip, "live/cam6?key=" + key, "pub_badkey")
        code = bad.wait(20)
        check(code != 0, "ffmpeg with a wrong key exited 0")
        srv.wait_log('publish "live/cam6" refused: invalid key')

        # play keys: playing the published stream needs a --play key of watch's secret
        accepted(port, "watch", "publish", "show")
        nf = "NetStream.Play.StreamNotFound"
        refused(port, "watch", "play", "show", nf, "Access denied: stream key missing")
        refused(port, "watch", "play",
                "show?key=" + openssl_key(SECRET, "watch/show", now + 60), nf,
                "Access denied: stream key invalid")  # signed with the publish secret
        refused(port, "watch", "play",
                "show?key=" + openssl_key(PLAY_SECRET, "watch/show", now - 1), nf,
                "Access denied: stream key expired")
        accepted(port, "watch", "play", "show?key=" + sign(srv, "watch/show", "--play"))
        play_key = openssl_key(PLAY_SECRET, "watch/show", now + 60)
        accepted(port, "watch", "play", "show?key=%s&lang=en" % play_key)
        # the play line shows the query, with the key hidden, as the publish line does
        srv.wait_log('play "watch/show" args key=***&lang=en', 5.0)
        check(play_key.split("-")[1] not in srv.log(), "the play key is in the log")
        # publishing in watch needs no key; playing in live needs none either
        accepted(port, "live", "play", "cam1")

        # --sign explains what it cannot do
        r = run_server_cmd(["--sign", "watch/show", "-c", srv.conf])
        check(r.returncode == 1 and 'application "watch" has no publish_key_secret' in r.stderr,
              "--sign without a secret: %d %r" % (r.returncode, r.stderr))
        r = run_server_cmd(["--sign", "live/x", "--secret", SECRET, "--expires", "soon"])
        check(r.returncode == 1 and "--expires" in r.stderr, "--expires soon: %r" % r.stderr)
        r = run_server_cmd(["--sign", "live/x", "--secret", "short"])
        check(r.returncode == 1 and "--secret wants 16 characters or more" in r.stderr,
              "--secret short: %d %r" % (r.returncode, r.stderr))


test_publish_keys.TIME_LIMIT = 30


AVC_HEADER = bytes.fromhex("0164000affe1001967640016acd94141fb0110000003001000000303c0f16"
                           "2d96001000668ebe3cb22c0")


def test_pull_between_workers_needs_no_key():
    """A player with a good key on the worker without the publisher makes its worker pull the
    stream over a unix socket: that pull carries no key and matches no address rule, and must
    still get through both modules."""
    apps = {"live": 'live = true; play_key_secret = "%s"; '
                    'access = ( "allow play 127.0.0.1", "deny play all" );' % PLAY_SECRET}
    # few connections per worker, so that the players cannot all land on one of them
    with live_server(apps, workers=2, main_extra="worker_connections = 16;\n") as srv:
        srv.start()
        key = sign(srv, "live/p", "--play")
        with PyPublisher(srv.port, "live", "p") as pub:
            check(pub.status == "NetStream.Publish.Start", "publish got %r" % pub.status)
            pub_worker = list(wait_for(lambda: publishers_of(srv, "live/p"), 3,
                                       "the publisher").values())[0]
            players = []
            try:
                remote = None
                for i in range(24):
                    players.append(PyPlayer(srv.port, "live", "p?key=" + key).play())
                    seen = wait_for(lambda: len(players_of(srv, "live/p")) >= len(players) and
                                    players_of(srv, "live/p"), 3, "player %d" % i)
                    if seen.get(players[-1].port) not in (None, pub_worker):
                        remote = players[-1]
                        break
                check(remote is not None, "no player landed on the other worker")
                pub.video(0, AVC_HEADER, header=True)
                for i in range(6):
                    pub.video(i * 40, b"frame%d" % i + bytes(200), key=i == 0)
                remote.wait(lambda ms: any(is_video_key(m) for m in ms), 5,
                            "the key frame, pulled from the publisher's worker")
                check(not any(w in srv.log() for w in ("denied", "refused")),
                      "the pull was refused: %s" % srv.log()[-1500:])
            finally:
                for p in players:
                    p.stop()


test_pull_between_workers_needs_no_key.TIME_LIMIT = 30


def test_access_over_ipv6():
    """Rules for IPv6 peers, over ::1: the first matching rule decides for each family."""
    need_tools("ffmpeg")
    if not harness.ipv6_loopback():
        harness.skip("no IPv6 loopback here")
    clip = media_clip(2)
    port = harness.free_port()
    conf = (
        'worker_processes = 1;\npid = "{dir}/rtmp_server.pid";\n'
        'error_log = "{dir}/error.log";\n'
        "rtmp = { server = ( {\n"
        '  listen = [ "127.0.0.1:%d", "[::1]:%d" ];\n'
        '  access = ( "allow publish ::1/128", "deny publish all",\n'
        '             "deny play ::1", "allow play all" );\n'
        '  application = ( { name = "live"; live = true; } );\n'
        "} ); };\n" % (port, port))
    with harness.Server(workers=1, ports=[port], conf=conf) as srv:
        srv.start()
        for host, verb_ok in (("[::1]", True), ("127.0.0.1", False)):
            p = ClientProc(FFMPEG_QUIET + ["-i", clip, "-c", "copy", "-f", "flv",
                                           "rtmp://%s:%d/live/v6" % (host, port)],
                           srv.dir, "pub_" + host.strip("[]").replace(":", "_"))
            code = p.wait(20)
            check((code == 0) == verb_ok, "publishing from %s exited %d" % (host, code))
        srv.wait_log('publish "live/v6" denied by rule "deny publish all"')
        # play: ::1 is denied by its own rule, 127.0.0.1 falls through to "allow play all"
        for host, allowed in (("[::1]", False), ("127.0.0.1", True)):
            p = ClientProc(["ffmpeg", "-loglevel", "error", "-rw_timeout", "2000000", "-i",
                            "rtmp://%s:%d/live/none" % (host, port), "-t", "1", "-f", "null",
                            "-"], srv.dir, "play_" + host.strip("[]").replace(":", "_"))
            p.wait(10)
        srv.wait_log('play "live/none" denied by rule "deny play ::1"')
        check('play "live/none" denied by rule "deny play ::1"' in srv.log() and
              srv.log().count('play "live/none" denied') == 1,
              "only the ::1 player is refused: %s" % srv.log()[-1500:])


test_access_over_ipv6.TIME_LIMIT = 40
