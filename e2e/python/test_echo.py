"""End-to-end tests of `edgeio --app echo` with Debian's python3-socketio client.

Run with Debian's interpreter (it sees the python3-socketio, python3-websocket and
python3-requests packages that scripts/install-deps.sh installs):

    /usr/bin/python3 e2e/python/test_echo.py          # or: -m unittest test_echo

The server binary is $EDGEIO_BIN (relative paths resolve against e2e/) or ../bin/edgeio.
Every wait has a deadline, and the whole run is cut off after RUN_DEADLINE seconds.
"""

import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import socketio

E2E_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_DEADLINE = 90  # seconds for the whole file
WAIT = 5  # seconds for any single answer

TRANSPORTS = {
    "polling": ["polling"],
    "websocket": ["websocket"],
    "default": None,  # polling, then upgrade to websocket
}


def server_binary():
    return os.path.normpath(os.path.join(E2E_DIR, os.environ.get("EDGEIO_BIN") or "../bin/edgeio"))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The binary under test on a free 127.0.0.1 port, with its output kept in a file."""

    def __init__(self, extra_args=()):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = tempfile.TemporaryFile()
        self.cwd = tempfile.TemporaryDirectory(prefix="edgeio-e2e-py-")
        args = [
            server_binary(),
            "--app", "echo",
            "--addr", "127.0.0.1:%d" % self.port,
            "--admin-addr", "127.0.0.1:0",
            "--ping-interval", "300ms",
            "--ping-timeout", "200ms",
            "--connect-timeout", "1s",
            "--cors-origins", "*",
            *extra_args,
        ]
        self.stopped = False
        self.proc = subprocess.Popen(args, cwd=self.cwd.name, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited during start-up (%s):\n%s" % (self.proc.returncode, self.output()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("server did not listen within 10 s:\n%s" % self.output())
                time.sleep(0.05)

    def alive(self):
        return self.proc.poll() is None

    def output(self):
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def stop(self):
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=3)
        self.cwd.cleanup()


SERVER = None


def setUpModule():
    global SERVER
    SERVER = Server()


def tearDownModule():
    if SERVER is not None:
        SERVER.stop()


class Recorder:
    """Collects the arguments of every emission of some events, with blocking reads."""

    def __init__(self, client, events, namespace="/"):
        # Events of / are keyed by name, those of other namespaces by "namespace:name".
        self.queues = {}
        for e in events:
            key = e if namespace == "/" else "%s:%s" % (namespace, e)
            self.queues[key] = queue.Queue()
            client.on(e, self._handler(key), namespace=namespace)

    def _handler(self, event):
        def handler(*args):
            self.queues[event].put(args)
        return handler

    def get(self, event, timeout=WAIT):
        try:
            return self.queues[event].get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no '%s' event within %s s" % (event, timeout)) from None

    def count(self, event):
        return self.queues[event].qsize()


class ClientsTestCase(unittest.TestCase):
    """Checks that the suite's server runs before each test, and disconnects the clients a
    test opened (in self.clients) after it."""

    def server(self):
        raise NotImplementedError

    def setUp(self):
        self.clients = []
        self.assertTrue(self.server().alive(), "server process is not running")

    def tearDown(self):
        for c in self.clients:
            try:
                c.disconnect()
            except Exception:  # noqa: BLE001 - best effort cleanup
                pass


class EchoTestCase(ClientsTestCase):
    def server(self):
        return SERVER

    def client(self, transport="websocket", auth=None, namespaces=None, events=("auth",), ns_events=None):
        """Connects a socketio.Client; returns (client, recorder of `events` on /)."""
        c = socketio.Client(reconnection=False, request_timeout=WAIT)
        self.clients.append(c)
        rec = Recorder(c, events)
        if ns_events:
            for ns, evs in ns_events.items():
                rec.queues.update(Recorder(c, evs, namespace=ns).queues)
        c.connect(SERVER.url, auth=auth, transports=TRANSPORTS[transport],
                  namespaces=namespaces or ["/"], wait_timeout=WAIT)
        return c, rec

    def assert_transport(self, c, transport):
        want = "polling" if transport == "polling" else "websocket"
        if transport == "default":
            # The upgrade happens shortly after the handshake.
            deadline = time.monotonic() + WAIT
            while c.transport() != "websocket" and time.monotonic() < deadline:
                time.sleep(0.02)
        self.assertEqual(c.transport(), want)


def for_each_transport(fn):
    """Runs a test body once per transport setting, each as a subTest."""
    def wrapper(self):
        for name in TRANSPORTS:
            with self.subTest(transport=name):
                try:
                    fn(self, name)
                finally:
                    self.tearDown()
                    self.clients = []
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


class TestEcho(EchoTestCase):
    @for_each_transport
    def test_connect_with_auth(self, transport):
        auth = {"token": "py-token", "n": 3, "nested": {"list": [1, "two"]}}
        c, rec = self.client(transport, auth=auth)
        self.assert_transport(c, transport)
        self.assertTrue(c.connected)
        self.assertTrue(c.get_sid())
        self.assertEqual(rec.get("auth"), (auth,))

    @for_each_transport
    def test_message_with_ack(self, transport):
        c, _ = self.client(transport)
        self.assertEqual(c.call("message-with-ack", "hello", timeout=WAIT), "hello")
        self.assertEqual(c.call("message-with-ack", ("a", 1, {"b": [True, None]}), timeout=WAIT),
                         ("a", 1, {"b": [True, None]}))
        self.assertEqual(c.call("message-with-ack", "héllo ✓ 😀", timeout=WAIT), "héllo ✓ 😀")

    @for_each_transport
    def test_message_back(self, transport):
        c, rec = self.client(transport, events=("auth", "message-back"))
        c.emit("message", ("hi", 2, {"k": "v"}))
        self.assertEqual(rec.get("message-back"), ("hi", 2, {"k": "v"}))

    @for_each_transport
    def test_binary_round_trip(self, transport):
        c, rec = self.client(transport, events=("auth", "message-back"))
        blob = bytes(range(256)) * 4
        got = c.call("message-with-ack", (b"\x00\x01\xfe\xff", {"nested": blob, "text": "t"}), timeout=WAIT)
        self.assertIsInstance(got[0], bytes)
        self.assertEqual(got[0], b"\x00\x01\xfe\xff")
        self.assertIsInstance(got[1]["nested"], bytes)
        self.assertEqual(got[1]["nested"], blob)
        self.assertEqual(got[1]["text"], "t")
        c.emit("message", b"event bytes")
        self.assertEqual(rec.get("message-back"), (b"event bytes",))

    @for_each_transport
    def test_namespace_custom(self, transport):
        c, rec = self.client(transport, auth={"who": "py"}, namespaces=["/", "/custom"],
                             ns_events={"/custom": ("auth",)})
        self.assertEqual(rec.get("/custom:auth"), ({"who": "py"},))
        self.assertEqual(rec.get("auth"), ({"who": "py"},))
        self.assertEqual(c.call("message-with-ack", "on custom", namespace="/custom", timeout=WAIT), "on custom")
        self.assertEqual(c.call("message-with-ack", "on main", timeout=WAIT), "on main")

    def test_private_namespace(self):
        errors = queue.Queue()
        c = socketio.Client(reconnection=False, request_timeout=WAIT)
        self.clients.append(c)
        c.on("connect_error", lambda *a: errors.put(a), namespace="/private")
        with self.assertRaises(socketio.exceptions.ConnectionError):
            c.connect(SERVER.url, transports=["websocket"], namespaces=["/private"], wait_timeout=WAIT)
        err = errors.get(timeout=WAIT)
        self.assertEqual(err, ({"message": "unauthorized", "data": {"code": "UNAUTHORIZED"}},))

        ok, _ = self.client("websocket", auth={"token": "secret"}, namespaces=["/private"])
        self.assertEqual(ok.call("message-with-ack", "private", namespace="/private", timeout=WAIT), "private")

    @for_each_transport
    def test_rooms_broadcast(self, transport):
        a, rec_a = self.client(transport, events=("auth", "py-event"))
        b, rec_b = self.client(transport, events=("auth", "py-event"))
        c, rec_c = self.client(transport, events=("auth", "py-event"))
        self.assertEqual(a.call("join", "py-room", timeout=WAIT), True)
        self.assertEqual(b.call("join", "py-room", timeout=WAIT), True)
        rooms = b.call("rooms", timeout=WAIT)
        self.assertEqual(rooms, sorted([b.get_sid(), "py-room"]))
        a.emit("broadcast", ("py-room", "py-event", {"from": "a"}, b"\x07"))
        self.assertEqual(rec_b.get("py-event"), ({"from": "a"}, b"\x07"))
        time.sleep(0.3)
        self.assertEqual(rec_a.count("py-event"), 0, "the sender must not receive its broadcast")
        self.assertEqual(rec_c.count("py-event"), 0, "a non-member must not receive the broadcast")
        self.assertEqual(b.call("leave", "py-room", timeout=WAIT), True)
        self.assertEqual(b.call("rooms", timeout=WAIT), [b.get_sid()])

    def test_server_ack(self):
        c, _ = self.client("websocket")
        seen = queue.Queue()

        def on_ping(*args):
            seen.put(args)
            return "pong", {"got": list(args)}

        c.on("py-ping", on_ping)
        got = c.call("server-ack", ("py-ping", 1, "two"), timeout=WAIT)
        self.assertEqual(seen.get(timeout=WAIT), (1, "two"))
        self.assertEqual(got, ("pong", {"got": [1, "two"]}))

    def test_disconnect_me(self):
        c = socketio.Client(reconnection=False, request_timeout=WAIT)
        self.clients.append(c)
        gone = threading.Event()
        c.on("disconnect", gone.set)
        c.connect(SERVER.url, transports=["websocket"], wait_timeout=WAIT)
        c.emit("disconnect-me")
        self.assertTrue(gone.wait(WAIT), "no disconnect after disconnect-me")


def run(module, server, deadline):
    """Runs module's tests under a hard deadline; server() is the module's current server,
    stopped when the run is cut short and shown when a test fails."""
    name = os.path.basename(module.__file__)

    def on_alarm(*_):
        sys.stderr.write("%s: run exceeded %d s, aborting\n" % (name, deadline))
        if server() is not None:
            sys.stderr.write("--- server output ---\n%s--- end ---\n" % server().output())
            server().stop()
        os._exit(2)

    def on_term(signum, _frame):
        if server() is not None:
            server().stop()
        os._exit(128 + signum)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(deadline)
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    # Keep the server around until the report is printed.
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    srv = server()
    if not result.wasSuccessful() and srv is not None:
        sys.stderr.write("--- server output (%s) ---\n%s--- end of server output ---\n"
                         % (("stopped by the tests" if srv.stopped else "running") if srv.alive() or srv.stopped
                            else "EXITED %s" % srv.proc.returncode, srv.output()))
    signal.alarm(0)
    return 0 if result.wasSuccessful() else 1


def main():
    return run(sys.modules[__name__], lambda: SERVER, RUN_DEADLINE)


if __name__ == "__main__":
    sys.exit(main())
