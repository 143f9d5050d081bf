"""What python-socketio shows for a refused connection (driven by refusals.test.mjs).

    /usr/bin/python3 refusals.py URL TRANSPORT[,TRANSPORT...] [ORIGIN]

For each transport, one python-socketio Client with its defaults (reconnection on) connects
to URL with a token that does not matter; prints one JSON line: the exception connect()
raised (its type and args), what the connect_error handler received, how long connect()
took, and, two seconds later, whether the client is connected or reconnecting by itself.
"""

import json
import sys
import time

import socketio


def attempt(url, transport, origin):
    sio = socketio.Client()
    handler = []

    @sio.event
    def connect_error(*data):
        handler.append(list(data))

    headers = {"Origin": origin} if origin else {}
    started = time.monotonic()
    result = {"transport": transport}
    try:
        sio.connect(url, transports=[transport], auth={"token": "unused"}, headers=headers)
        result["connected"] = True
    except Exception as e:  # what an application catches
        result["exception"] = type(e).__name__
        result["args"] = [a if isinstance(a, (str, int, float, dict, list, type(None))) else repr(a) for a in e.args]
    result["ms"] = round((time.monotonic() - started) * 1000)
    result["handler"] = handler
    time.sleep(2)
    result["later"] = {
        "connected": sio.connected,
        "eio_state": sio.eio.state,
        "reconnecting": bool(getattr(sio, "_reconnect_task", None)),
    }
    try:
        sio.disconnect()
    except Exception:
        pass
    print(json.dumps(result), flush=True)


def main():
    url, transports = sys.argv[1], sys.argv[2].split(",")
    origin = sys.argv[3] if len(sys.argv) > 3 else None
    for t in transports:
        attempt(url, t, origin)


if __name__ == "__main__":
    main()
