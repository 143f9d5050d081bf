"""End-to-end test of the chat app (`edgeio --app chat`) with Debian's python3-socketio client.

One chat flow: connect with a token (auth payload, Authorization header, token query), join a
room, send a message (with an inline binary attachment), receive it as new-message on another
Python client, read it back with get-history; refusals and errors as documented. And every
room broadcast reaching the one-argument handlers a Python user writes, with exactly its
documented arguments, on every transport and with both serializers (JSON, and msgpack when
python3-msgpack is installed), against the server's default flags: connection state
recovery is on, and its offsets go only to clients that ask for them.

    /usr/bin/python3 e2e/python/test_chat.py

The server binary is $EDGEIO_BIN (relative paths resolve against e2e/) or ../bin/edgeio.
"""

import base64
import hashlib
import hmac
import json
import os
import queue
import re
import shutil
import sys
import tempfile
import time
import unittest
import uuid

import socketio

try:
    import msgpack  # noqa: F401  (python-socketio's msgpack serializer needs it)
    SERIALIZERS = ("default", "msgpack")
except ImportError:
    SERIALIZERS = ("default",)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_echo  # noqa: E402  (its Server and Recorder)

RUN_DEADLINE = 90
WAIT = test_echo.WAIT
SECRET = "py-chat-secret-" + uuid.uuid4().hex
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# Abuse protection off (every client comes from 127.0.0.1); EDGEIO_* variables of flags the
# binary does not have are ignored.
NO_LIMITS = {
    "EDGEIO_RATE_MESSAGES": "0",
    "EDGEIO_RATE_EVENTS": "0",
    "EDGEIO_RATE_HANDSHAKES": "0",
    "EDGEIO_MAX_CONNS_PER_IP": "0",
    "EDGEIO_AUTH_FAIL_LIMIT": "0",
}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(sub, name=None, rooms=None, ttl=3600):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": sub, "exp": int(time.time()) + ttl}
    if name is not None:
        claims["name"] = name
    if rooms is not None:
        claims["rooms"] = rooms
    payload = b64url(json.dumps(claims).encode())
    sig = hmac.new(SECRET.encode(), ("%s.%s" % (header, payload)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (header, payload, b64url(sig))


SERVER = None
DATA_DIR = None


def setUpModule():
    global SERVER, DATA_DIR
    DATA_DIR = tempfile.mkdtemp(prefix="edgeio-py-chat-")
    os.environ.update(NO_LIMITS)  # inherited by the server process
    SERVER = test_echo.Server([
        "--app", "chat",
        "--jwt-secret", SECRET,
        "--data-dir", DATA_DIR,
        "--presence-grace", "300ms",
        "--typing-timeout", "500ms",
        "--receipt-window", "50ms",
        "--ping-interval", "5s",
        "--ping-timeout", "5s",
    ])


def tearDownModule():
    if SERVER is not None:
        SERVER.stop()
    if DATA_DIR is not None:
        shutil.rmtree(DATA_DIR, ignore_errors=True)


class ChatTest(test_echo.ClientsTestCase):
    def server(self):
        return SERVER

    def client(self, sub, via="auth", transport="websocket", events=()):
        c = socketio.Client(reconnection=False, request_timeout=WAIT)
        self.clients.append(c)
        rec = test_echo.Recorder(c, events)
        tok = token(sub, name="Py " + sub)
        url, auth, headers = SERVER.url, None, {}
        if via == "auth":
            auth = {"token": tok}
        elif via == "header":
            headers = {"Authorization": "Bearer " + tok}
        else:
            url = "%s?token=%s" % (SERVER.url, tok)
        c.connect(url, auth=auth, headers=headers, transports=test_echo.TRANSPORTS[transport], wait_timeout=WAIT)
        return c, rec

    def call(self, c, event, arg):
        return c.call(event, arg, timeout=WAIT)

    def documented(self, args):
        """The event's arguments, asserting there is exactly one: this client did not ask for
        connection state recovery, so no room broadcast carries an offset after its payload."""
        self.assertEqual(len(args), 1, "exactly the documented argument, no recovery offset: %r" % (args,))
        return args

    def test_chat_flow(self):
        room = "py-" + uuid.uuid4().hex[:12]
        alice = "alice-" + uuid.uuid4().hex[:8]
        bob = "bob-" + uuid.uuid4().hex[:8]
        events = ("new-message", "room-member-joined", "error")
        a, rec_a = self.client(alice, via="auth", transport="websocket", events=events)
        b, rec_b = self.client(bob, via="header", transport="polling", events=events)
        c, rec_c = self.client(alice, via="query", transport="default", events=events)

        self.assertEqual(self.call(a, "join-room", room),
                         {"ok": True, "roomId": room, "lastReadId": None, "unreadCount": 0})
        self.assertEqual(self.call(b, "join-room", room)["ok"], True)
        joined = self.documented(rec_a.get("room-member-joined"))
        self.assertEqual(joined, ({"roomId": room, "user": {"userId": bob, "username": "Py " + bob, "status": "online"}},))

        blob = bytes(range(256))
        ack = self.call(a, "send-message", {
            "roomId": room, "content": "hello from <b>python</b>", "clientMsgId": "py-1",
            "attachments": [{"name": "blob.bin", "type": "application/octet-stream", "data": blob},
                            {"url": "https://example.com/x.png", "size": 10}],
        })
        self.assertEqual(ack["ok"], True)
        msg = ack["message"]
        self.assertEqual(sorted(msg), ["attachments", "clientMsgId", "content", "createdAt", "id", "roomId",
                                       "userId", "username"])
        self.assertEqual(msg["content"], "hello from python")
        self.assertEqual((msg["roomId"], msg["userId"], msg["username"], msg["clientMsgId"]),
                         (room, alice, "Py " + alice, "py-1"))
        self.assertRegex(msg["createdAt"], ISO)
        self.assertIsInstance(msg["attachments"][0]["data"], bytes)
        self.assertEqual(msg["attachments"][0]["data"], blob)
        self.assertEqual(msg["attachments"][1], {"url": "https://example.com/x.png", "size": 10})

        got = self.documented(rec_b.get("new-message"))
        self.assertEqual(got, (msg,))
        self.assertIsInstance(got[0]["attachments"][0]["data"], bytes)
        self.assertEqual(self.documented(rec_a.get("new-message")), (msg,), "the sender's socket in the room gets it too")
        time.sleep(0.3)
        self.assertEqual(rec_c.count("new-message"), 0, "alice's socket outside the room does not")

        retry = self.call(a, "send-message", {"roomId": room, "content": "hello from <b>python</b>", "clientMsgId": "py-1"})
        self.assertEqual(retry, {"ok": True, "message": msg})

        reply = self.call(b, "send-message", {"roomId": room, "content": "hi alice"})["message"]
        self.assertEqual(rec_a.get("new-message")[0]["id"], reply["id"])

        hist = self.call(c, "get-history", {"roomId": room})
        self.assertEqual(sorted(hist), ["hasMore", "messages", "ok", "roomId"])
        self.assertEqual((hist["ok"], hist["roomId"], hist["hasMore"]), (True, room, False))
        self.assertEqual([m["id"] for m in hist["messages"]], [msg["id"], reply["id"]])
        self.assertEqual(hist["messages"][0], msg)
        page = self.call(c, "get-history", {"roomId": room, "limit": 1})
        self.assertEqual(([m["id"] for m in page["messages"]], page["hasMore"]), ([reply["id"]], True))

        # Errors: in the ack, or as an error event without one.
        bad = self.call(a, "send-message", {"roomId": room, "content": "   "})
        self.assertEqual(bad["ok"], False)
        self.assertEqual(bad["error"]["code"], "INVALID_PAYLOAD")
        c.emit("send-message", {"roomId": room, "content": "c never joined"})
        err = rec_c.get("error")
        self.assertEqual(sorted(err[0]), ["code", "message"])
        self.assertEqual(err[0]["code"], "NOT_IN_ROOM")
        self.assertEqual(self.call(a, "join-room", "user:" + bob)["error"]["code"], "FORBIDDEN")

    def test_broadcasts_reach_one_argument_handlers(self):
        """Every room broadcast reaches `def handler(payload)`, with its documented payload,
        on polling, WebSocket and polling with the upgrade, with each serializer."""
        for serializer in SERIALIZERS:
            for transport in test_echo.TRANSPORTS:
                with self.subTest(serializer=serializer, transport=transport):
                    try:
                        self.one_argument_handlers(transport, serializer)
                    finally:
                        self.tearDown()
                        self.clients = []

    def one_argument_handlers(self, transport, serializer):
        room = "py1-" + uuid.uuid4().hex[:12]
        alice, bob, carol = ("%s-%s" % (n, uuid.uuid4().hex[:8]) for n in ("alice", "bob", "carol"))
        events = ("room-member-joined", "new-message", "message-edited", "messages-read", "message-deleted",
                  "room-member-left")
        got = {e: queue.Queue() for e in events}
        a = socketio.Client(reconnection=False, request_timeout=WAIT, serializer=serializer)
        self.clients.append(a)

        # the handlers anyone writes from the events' documentation take one argument (a
        # handler that gets two raises TypeError in python-socketio's thread, and the event is
        # lost without a trace in the script)
        def one_argument(event):
            def handler(payload):
                got[event].put(payload)
            return handler

        for e in events:
            a.on(e, one_argument(e))
        a.connect(SERVER.url, auth={"token": token(alice, name="Py " + alice)},
                  transports=test_echo.TRANSPORTS[transport], wait_timeout=WAIT)
        # carol records what arrives as it arrives: every argument
        c = socketio.Client(reconnection=False, request_timeout=WAIT, serializer=serializer)
        self.clients.append(c)
        rec_c = test_echo.Recorder(c, events)
        c.connect(SERVER.url, auth={"token": token(carol)}, transports=test_echo.TRANSPORTS[transport],
                  wait_timeout=WAIT)
        b = socketio.Client(reconnection=False, request_timeout=WAIT, serializer=serializer)
        self.clients.append(b)
        b.connect(SERVER.url, auth={"token": token(bob, name="Py " + bob)},
                  transports=test_echo.TRANSPORTS[transport], wait_timeout=WAIT)
        for x in (c, a):
            self.assertEqual(self.call(x, "join-room", room)["ok"], True)
        rec_c.get("room-member-joined")  # alice's, after carol

        def expect(event, want):
            try:
                payload = got[event].get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError("alice's one-argument '%s' handler got nothing within %s s" % (event, WAIT)) from None
            self.assertEqual(payload, want, event)
            self.assertEqual(self.documented(rec_c.get(event)), (want,), event)

        self.assertEqual(self.call(b, "join-room", room)["ok"], True)
        expect("room-member-joined", {"roomId": room, "user": {"userId": bob, "username": "Py " + bob, "status": "online"}})
        msg = self.call(b, "send-message", {"roomId": room, "content": "one argument"})["message"]
        expect("new-message", msg)
        edited = self.call(b, "edit-message", {"messageId": msg["id"], "content": "still one"})
        self.assertEqual(edited["ok"], True)
        edit = got["message-edited"].get(timeout=WAIT)
        self.assertEqual((sorted(edit), edit["messageId"], edit["roomId"], edit["content"]),
                         (["content", "editedAt", "messageId", "roomId"], msg["id"], room, "still one"))
        self.assertEqual(self.documented(rec_c.get("message-edited")), (edit,))
        self.assertEqual(self.call(b, "mark-as-read", {"roomId": room, "messageIds": [msg["id"]]})["ok"], True)
        receipt = got["messages-read"].get(timeout=WAIT)
        self.assertEqual((sorted(receipt), receipt["roomId"], receipt["messageIds"], receipt["userId"]),
                         (["messageIds", "readAt", "roomId", "userId"], room, [msg["id"]], bob))
        self.assertEqual(self.documented(rec_c.get("messages-read")), (receipt,))
        self.assertEqual(self.call(b, "delete-message", msg["id"])["ok"], True)
        expect("message-deleted", msg["id"])
        self.assertEqual(self.call(b, "leave-room", room)["ok"], True)
        expect("room-member-left", {"roomId": room, "userId": bob})

    def test_refused(self):
        errors = queue.Queue()
        c = socketio.Client(reconnection=False, request_timeout=WAIT)
        self.clients.append(c)
        c.on("connect_error", lambda *args: errors.put(args))
        # wait_timeout: python-socketio waits it out even after a connect_error
        with self.assertRaises(socketio.exceptions.ConnectionError):
            c.connect(SERVER.url, auth={"token": "not-a-token"}, transports=["websocket"], wait_timeout=1)
        self.assertEqual(errors.get(timeout=WAIT), ({"message": "unauthorized", "data": {"code": "UNAUTHORIZED"}},))
        expired = socketio.Client(reconnection=False, request_timeout=WAIT)
        self.clients.append(expired)
        expired.on("connect_error", lambda *args: errors.put(args))
        with self.assertRaises(socketio.exceptions.ConnectionError):
            expired.connect(SERVER.url, auth={"token": token("late", ttl=-3600)}, transports=["websocket"],
                            wait_timeout=1)
        self.assertEqual(errors.get(timeout=WAIT), ({"message": "unauthorized", "data": {"code": "TOKEN_EXPIRED"}},))


def main():
    if "msgpack" not in SERIALIZERS:
        sys.stderr.write("test_chat.py: python3-msgpack is not installed: the msgpack serializer is not tested\n")
    return test_echo.run(sys.modules[__name__], lambda: SERVER, RUN_DEADLINE)


if __name__ == "__main__":
    sys.exit(main())
