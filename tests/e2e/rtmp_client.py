"""A minimal RTMP client for the end-to-end tests: the simple handshake, a chunk writer
(fmt 0 headers, fmt 3 continuations), a chunk reader (fmt 0/1/2/3, extended timestamps,
Set Chunk Size from the peer) and AMF0 encode/decode (numbers, booleans, strings, objects,
ECMA and strict arrays, null, undefined), plus just enough AMF3 to write a connect command
object. Standard library only; every read is bounded by a deadline.

It is deliberately small and strict, so that tests can check the server's exact bytes:
anything it does not understand is an error, not something skipped.
"""

import socket
import struct
import time

import harness

# message types (RTMP 1.0 spec 5.4, 6.2, 7.1)
MSG_CHUNK_SIZE = 1
MSG_ABORT = 2
MSG_ACK = 3
MSG_USER = 4
MSG_ACK_SIZE = 5
MSG_BANDWIDTH = 6
MSG_AUDIO = 8
MSG_VIDEO = 9
MSG_AMF3_META = 15
MSG_AMF3_CMD = 17
MSG_AMF_META = 18
MSG_AMF_CMD = 20

# user control events (spec 7.1.7)
USER_STREAM_BEGIN = 0
USER_STREAM_EOF = 1
USER_SET_BUFLEN = 3
USER_PING_REQUEST = 6
USER_PING_RESPONSE = 7

DEFAULT_CHUNK_SIZE = 128


class ConnectionClosed(Exception):
    """The server closed (or reset) the connection while we were reading."""


# ---- AMF0 ------------------------------------------------------------------------------------

class Undefined:
    def __repr__(self):
        return "undefined"


UNDEFINED = Undefined()


class EcmaArray(dict):
    """A dict that encodes as an AMF0 ECMA array instead of an object."""


def amf0_encode(*values):
    out = bytearray()
    for v in values:
        _amf0_value(out, v)
    return bytes(out)


class RawString(bytes):
    """An AMF0 string of these bytes, which need not be UTF-8 (plain bytes are sent as they
    are, pre-encoded)."""


def _amf0_str(out, s):
    b = s.encode()
    out += struct.pack(">H", len(b)) + b


def _amf0_props(out, d):
    for k, v in d.items():
        _amf0_str(out, k)
        _amf0_value(out, v)
    out += b"\x00\x00\x09"


def _amf0_value(out, v):
    if v is None:
        out += b"\x05"
    elif v is UNDEFINED:
        out += b"\x06"
    elif isinstance(v, bool):
        out += b"\x01" + (b"\x01" if v else b"\x00")
    elif isinstance(v, (int, float)):
        out += b"\x00" + struct.pack(">d", float(v))
    elif isinstance(v, (str, RawString)):
        b = v.encode() if isinstance(v, str) else bytes(v)
        if len(b) > 0xFFFF:
            out += b"\x0c" + struct.pack(">I", len(b)) + b
        else:
            out += b"\x02" + struct.pack(">H", len(b)) + b
    elif isinstance(v, EcmaArray):
        out += b"\x08" + struct.pack(">I", len(v))
        _amf0_props(out, v)
    elif isinstance(v, dict):
        out += b"\x03"
        _amf0_props(out, v)
    elif isinstance(v, (list, tuple)):
        out += b"\x0a" + struct.pack(">I", len(v))
        for x in v:
            _amf0_value(out, x)
    elif isinstance(v, (bytes, bytearray)):
        out += v  # pre-encoded (e.g. an AVM+ switch followed by AMF3)
    else:
        raise TypeError("cannot AMF0-encode %r" % (v,))


class AmfError(Exception):
    pass


def amf0_decode(data):
    """All values in data, as a list; raises AmfError on anything malformed or unknown."""
    pos = 0
    values = []
    while pos < len(data):
        v, pos = _amf0_decode_value(data, pos, 0)
        values.append(v)
    return values


def _need(data, pos, n):
    if pos + n > len(data):
        raise AmfError("truncated AMF0 at offset %d (need %d bytes)" % (pos, n))


def _amf0_decode_str(data, pos):
    _need(data, pos, 2)
    n = struct.unpack_from(">H", data, pos)[0]
    pos += 2
    _need(data, pos, n)
    return data[pos:pos + n].decode("utf-8", "replace"), pos + n


def _amf0_decode_props(data, pos, depth, d):
    while True:
        k, pos = _amf0_decode_str(data, pos)
        if k == "":
            _need(data, pos, 1)
            if data[pos] != 0x09:
                raise AmfError("empty property name not followed by object end")
            return pos + 1
        d[k], pos = _amf0_decode_value(data, pos, depth + 1)


def _amf0_decode_value(data, pos, depth):
    if depth > 32:
        raise AmfError("AMF0 nested too deep")
    _need(data, pos, 1)
    m = data[pos]
    pos += 1
    if m == 0x00:
        _need(data, pos, 8)
        return struct.unpack_from(">d", data, pos)[0], pos + 8
    if m == 0x01:
        _need(data, pos, 1)
        return data[pos] != 0, pos + 1
    if m == 0x02:
        return _amf0_decode_str(data, pos)
    if m == 0x03:
        d = {}
        return d, _amf0_decode_props(data, pos, depth, d)
    if m == 0x05:
        return None, pos
    if m == 0x06:
        return UNDEFINED, pos
    if m == 0x08:
        _need(data, pos, 4)
        d = EcmaArray()
        return d, _amf0_decode_props(data, pos + 4, depth, d)
    if m == 0x0a:
        _need(data, pos, 4)
        n = struct.unpack_from(">I", data, pos)[0]
        pos += 4
        items = []
        for _ in range(n):
            v, pos = _amf0_decode_value(data, pos, depth + 1)
            items.append(v)
        return items, pos
    if m == 0x0c:
        _need(data, pos, 4)
        n = struct.unpack_from(">I", data, pos)[0]
        pos += 4
        _need(data, pos, n)
        return data[pos:pos + n].decode("utf-8", "replace"), pos + n
    raise AmfError("unsupported AMF0 marker 0x%02x at offset %d" % (m, pos - 1))


# ---- AMF3 (writing only, just what a connect object needs) ------------------------------------

def _amf3_u29(n):
    if n < 0x80:
        return bytes([n])
    if n < 0x4000:
        return bytes([(n >> 7) | 0x80, n & 0x7f])
    if n < 0x200000:
        return bytes([(n >> 14) | 0x80, ((n >> 7) & 0x7f) | 0x80, n & 0x7f])
    return bytes([(n >> 22) | 0x80, ((n >> 15) & 0x7f) | 0x80, ((n >> 8) & 0x7f) | 0x80,
                  n & 0xff])


def _amf3_utf8(s):
    b = s.encode()
    return _amf3_u29(len(b) << 1 | 1) + b  # inline, never a reference


def amf3_value(v):
    """AMF3 bytes of v: None, bool, int (29-bit), float, str or a dict as an anonymous
    dynamic object (all strings inline, no reference tables)."""
    if v is None:
        return b"\x01"
    if v is False:
        return b"\x02"
    if v is True:
        return b"\x03"
    if isinstance(v, int) and -(1 << 28) <= v < (1 << 28):
        return b"\x04" + _amf3_u29(v & 0x1fffffff)
    if isinstance(v, (int, float)):
        return b"\x05" + struct.pack(">d", float(v))
    if isinstance(v, str):
        return b"\x06" + _amf3_utf8(v)
    if isinstance(v, dict):
        # U29O-traits 0b1011: inline object, inline traits, dynamic, 0 sealed members;
        # class name "" (anonymous); dynamic members until the empty string
        out = bytearray(b"\x0a\x0b" + _amf3_utf8(""))
        for k, x in v.items():
            out += _amf3_utf8(k) + amf3_value(x)
        out += _amf3_utf8("")
        return bytes(out)
    raise TypeError("cannot AMF3-encode %r" % (v,))


def avmplus(v):
    """An AMF0 value that switches to AMF3 (AMF0 spec 3.1, marker 0x11) for v."""
    return b"\x11" + amf3_value(v)


# ---- messages --------------------------------------------------------------------------------

class Message:
    __slots__ = ("csid", "type", "msid", "timestamp", "payload", "fmt")

    def __init__(self, csid, mtype, msid, timestamp, payload, fmt=0):
        self.csid = csid
        self.type = mtype
        self.msid = msid
        self.timestamp = timestamp
        self.payload = payload
        self.fmt = fmt  # fmt of the first chunk of the message, for tests that care

    def amf(self):
        """The AMF values of a command or data message (AMF3 types skip their format
        byte; their values must still be plain AMF0 here)."""
        p = self.payload
        if self.type in (MSG_AMF3_CMD, MSG_AMF3_META) and p[:1] == b"\x00":
            p = p[1:]
        return amf0_decode(p)

    def is_command(self, name=None):
        if self.type not in (MSG_AMF_CMD, MSG_AMF3_CMD):
            return False
        if name is None:
            return True
        v = self.amf()
        return bool(v) and v[0] == name

    def user_event(self):
        """(event, value) of a User Control message; value is the first 4 bytes of data
        (stream id or timestamp) or None."""
        if self.type != MSG_USER or len(self.payload) < 2:
            return None
        ev = struct.unpack_from(">H", self.payload, 0)[0]
        val = struct.unpack_from(">I", self.payload, 2)[0] if len(self.payload) >= 6 else None
        return ev, val

    def u32(self):
        return struct.unpack_from(">I", self.payload, 0)[0]

    def __repr__(self):
        desc = ""
        try:
            if self.type in (MSG_AMF_CMD, MSG_AMF3_CMD, MSG_AMF_META):
                desc = " %r" % (self.amf(),)
            elif self.type == MSG_USER:
                desc = " event=%r" % (self.user_event(),)
            elif self.type in (MSG_CHUNK_SIZE, MSG_ACK, MSG_ACK_SIZE, MSG_BANDWIDTH):
                desc = " %r" % (self.payload.hex(),)
        except Exception as e:  # a repr must not fail
            desc = " <%s>" % e
        return "<msg csid=%d type=%d msid=%d ts=%d len=%d%s>" % (
            self.csid, self.type, self.msid, self.timestamp, len(self.payload), desc)


class _InStream:
    """What the reader remembers of one chunk stream (spec 5.3.1.2)."""
    __slots__ = ("timestamp", "delta", "mlen", "type", "msid", "ext", "buf", "fmt")

    def __init__(self):
        self.timestamp = 0
        self.delta = 0
        self.mlen = 0
        self.type = 0
        self.msid = 0
        self.ext = False
        self.buf = None  # bytearray while a message is incomplete
        self.fmt = 0


def basic_header(fmt, csid):
    if csid < 2:
        raise ValueError("csid %d is reserved" % csid)
    if csid < 64:
        return bytes([fmt << 6 | csid])
    if csid < 320:
        return bytes([fmt << 6, csid - 64])
    return bytes([fmt << 6 | 1, (csid - 64) & 0xff, (csid - 64) >> 8])


def fmt0_header(csid, mtype, msid, timestamp, mlen):
    ts = min(timestamp, 0xFFFFFF)
    h = basic_header(0, csid) + struct.pack(">I", ts)[1:] + struct.pack(">I", mlen)[1:] + \
        bytes([mtype]) + struct.pack("<I", msid)
    if timestamp >= 0xFFFFFF:
        h += struct.pack(">I", timestamp)
    return h


def chunk_message(csid, mtype, msid, timestamp, payload, chunk_size):
    """The chunks of one message: a fmt 0 header, then fmt 3 headers every chunk_size bytes
    (repeating the extended timestamp when there is one, as librtmp and FMS do)."""
    out = bytearray(fmt0_header(csid, mtype, msid, timestamp, len(payload)))
    ext = struct.pack(">I", timestamp) if timestamp >= 0xFFFFFF else b""
    for off in range(0, max(len(payload), 1), chunk_size):
        if off:
            out += basic_header(3, csid) + ext
        out += payload[off:off + chunk_size]
    return bytes(out)


# ---- FLV ---------------------------------------------------------------------------------------

def flv_tags(path, limit=None):
    """(type, timestamp, data) of the tags of an FLV file (at most `limit`): the payloads an
    encoder publishes as RTMP messages of that type."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:3] != b"FLV" or len(data) < 13:
        raise ValueError("%s is not an FLV file" % path)
    pos = struct.unpack_from(">I", data, 5)[0] + 4  # header, then PreviousTagSize0
    tags = []
    while pos + 11 <= len(data) and (limit is None or len(tags) < limit):
        ttype = data[pos] & 0x1f
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | data[pos + 7] << 24
        body = data[pos + 11:pos + 11 + size]
        if len(body) < size:
            break
        tags.append((ttype, ts, body))
        pos += 11 + size + 4
    return tags


# ---- the client --------------------------------------------------------------------------------

class RtmpClient:
    """One connection to 127.0.0.1:port. Use as a context manager (closes the socket)."""

    def __init__(self, port, timeout=3.0, sock=None):
        """sock: a socket already connected (one speaking TLS, say) instead of a new one."""
        self.port = port
        self.timeout = timeout
        self.sock = sock or harness.connect(port, timeout)
        self.in_chunk_size = DEFAULT_CHUNK_SIZE
        self.out_chunk_size = DEFAULT_CHUNK_SIZE
        self.streams = {}
        self.rbuf = bytearray()
        self.received = []  # every message read so far, in order
        self.tid = 1  # connect uses 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    # -- raw bytes
    def send(self, data):
        self.sock.sendall(data)

    def handshake(self):
        return harness.rtmp_handshake(self.sock, self.timeout)

    def _fill(self, n, deadline):
        """Reads until rbuf holds at least n bytes; ConnectionClosed on EOF or reset,
        socket.timeout once the deadline passes."""
        while len(self.rbuf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no complete message before the deadline")
            self.sock.settimeout(left)
            try:
                b = self.sock.recv(65536)
            except ConnectionResetError:
                raise ConnectionClosed("connection reset by the server")
            if not b:
                raise ConnectionClosed("connection closed by the server")
            self.rbuf += b

    def _take(self, n, deadline):
        self._fill(n, deadline)
        b = bytes(self.rbuf[:n])
        del self.rbuf[:n]
        return b

    # -- writing
    def send_message(self, mtype, payload, msid=0, csid=3, timestamp=0):
        self.send(chunk_message(csid, mtype, msid, timestamp, payload, self.out_chunk_size))

    def set_chunk_size(self, size):
        self.send_message(MSG_CHUNK_SIZE, struct.pack(">I", size), csid=2)
        self.out_chunk_size = size

    def send_user(self, event, *values):
        """A User Control message: the event, then each value as 32 bits (Set Buffer Length
        takes two: stream id and milliseconds)."""
        self.send_message(MSG_USER, struct.pack(">H%dI" % len(values), event, *values), csid=2)

    def command(self, name, tid, *args, msid=0, csid=3, amf3=False):
        """Sends a command: AMF0 (type 20), or type 17 with its leading format byte (the
        values themselves are AMF0, with AVM+ switches where the caller passes avmplus())."""
        body = amf0_encode(name, tid, *args)
        if amf3:
            self.send_message(MSG_AMF3_CMD, b"\x00" + body, msid=msid, csid=csid)
        else:
            self.send_message(MSG_AMF_CMD, body, msid=msid, csid=csid)

    def next_tid(self):
        self.tid += 1
        return self.tid

    # -- reading
    def read_message(self, timeout=None):
        """The next complete message. Set Chunk Size is applied (and returned too).
        Raises socket.timeout, ConnectionClosed, or TestFailure on a protocol violation."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            b0 = self._take(1, deadline)[0]
            fmt, csid = b0 >> 6, b0 & 0x3f
            if csid == 0:
                csid = 64 + self._take(1, deadline)[0]
            elif csid == 1:
                b = self._take(2, deadline)
                csid = 64 + b[0] + b[1] * 256
            st = self.streams.get(csid)
            if st is None:
                if fmt != 0:
                    harness.fail("server started chunk stream %d with fmt %d" % (csid, fmt))
                st = self.streams[csid] = _InStream()
            starting = st.buf is None
            if fmt == 0:
                h = self._take(11, deadline)
                ts = int.from_bytes(h[0:3], "big")
                st.mlen = int.from_bytes(h[3:6], "big")
                st.type = h[6]
                st.msid = struct.unpack_from("<I", h, 7)[0]
            elif fmt == 1:
                h = self._take(7, deadline)
                ts = int.from_bytes(h[0:3], "big")
                st.mlen = int.from_bytes(h[3:6], "big")
                st.type = h[6]
            elif fmt == 2:
                ts = int.from_bytes(self._take(3, deadline), "big")
            else:
                ts = None
            if fmt != 3:
                if not starting:
                    harness.fail("server sent a fmt %d header on chunk stream %d inside an "
                                  "unfinished message" % (fmt, csid))
                st.ext = ts == 0xFFFFFF
                if st.ext:
                    ts = struct.unpack(">I", self._take(4, deadline))[0]
                if fmt == 0:
                    st.timestamp = ts
                    st.delta = 0
                else:
                    st.delta = ts
                    st.timestamp = (st.timestamp + ts) & 0xFFFFFFFF
            else:
                if st.ext:
                    self._take(4, deadline)  # repeated extended timestamp
                if starting:
                    st.timestamp = (st.timestamp + st.delta) & 0xFFFFFFFF
            if starting:
                st.buf = bytearray()
                st.fmt = fmt
            n = min(self.in_chunk_size, st.mlen - len(st.buf))
            st.buf += self._take(n, deadline)
            if len(st.buf) < st.mlen:
                continue
            m = Message(csid, st.type, st.msid, st.timestamp, bytes(st.buf), st.fmt)
            st.buf = None
            if m.type == MSG_CHUNK_SIZE:
                if len(m.payload) != 4:
                    harness.fail("Set Chunk Size with %d bytes of payload" % len(m.payload))
                size = m.u32() & 0x7fffffff
                if size < 1:
                    harness.fail("server set chunk size %d" % size)
                self.in_chunk_size = size
            self.received.append(m)
            return m

    def read_until(self, pred, timeout=None, what="a message"):
        """Reads messages until pred(msg) is true; returns (msg, [messages read before it]).
        Fails the test naming `what` if the connection closes or the time runs out."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        seen = []
        while True:
            left = deadline - time.monotonic()
            try:
                m = self.read_message(max(left, 0.001))
            except socket.timeout:
                harness.fail("no %s within %.1fs (got %r)" % (what, self.timeout if timeout is
                                                               None else timeout, seen))
            except ConnectionClosed as e:
                harness.fail("%s while waiting for %s (got %r)" % (e, what, seen))
            if pred(m):
                return m, seen
            seen.append(m)

    def read_command(self, name=None, timeout=None):
        """The next command message (skipping control messages); returns (values, msg, seen)."""
        m, seen = self.read_until(lambda x: x.is_command(name), timeout,
                                  "command %r" % (name or "any"))
        return m.amf(), m, seen

    def wait_closed(self, timeout):
        """True when the server closes the connection within timeout (anything it sends
        meanwhile is read and kept in self.received), False if it is still open."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                b = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not b:
                return True
            self.rbuf += b

    # -- the usual conversation
    def connect_app(self, app="live", extra=None, amf3=False, tid=1):
        """Sends connect; returns (values of the reply command, messages before it)."""
        obj = {"app": app, "flashVer": "LNX 9,0,124,2",
               "tcUrl": "rtmp://127.0.0.1:%d/%s" % (self.port, app), "fpad": False,
               "capabilities": 15.0, "audioCodecs": 3191.0, "videoCodecs": 252.0,
               "videoFunction": 1.0, "objectEncoding": 3.0 if amf3 else 0.0}
        if extra:
            obj.update(extra)
        if amf3:
            self.command("connect", tid, avmplus(obj), amf3=True)
        else:
            self.command("connect", tid, obj)
        v, _, seen = self.read_command()
        return v, seen

    def create_stream(self):
        tid = self.next_tid()
        self.command("createStream", tid, None)
        v, _, _ = self.read_command()
        if v[:2] != ["_result", tid] or len(v) < 4 or not isinstance(v[3], float):
            harness.fail("createStream answered with %r" % (v,))
        return int(v[3])
