// Package echo is the protocol conformance app that `edgeio --app echo` runs: an Engine.IO
// echo at /engine.io/ and a Socket.IO echo at /socket.io/, as docs/echo-app.md describes.
// The official protocol test suites and edgeio's end-to-end tests talk to it.
package echo

import (
	"regexp"
	"sort"
	"time"

	"edgeio/server"
	"edgeio/server/engine"
)

// Install adds the echo app to io: its namespaces, and the Engine.IO echo mounted beside.
func Install(io *server.Server) {
	opts := io.Engine().Options()
	opts.Path = "/engine.io/"
	eio := engine.NewServer(opts)
	eio.OnOpen = func(s *engine.Session) engine.Handler { return &engineEcho{sess: s} }
	io.Mount(opts.Path, eio.ServeHTTP)

	for _, name := range []string{"/", "/custom"} {
		io.Of(name).OnConnection(onConnection)
	}
	io.OfPattern(regexp.MustCompile(`^/dynamic-[0-9]+$`)).OnConnection(onConnection)
	io.Of("/private").Use(requireToken).OnConnection(onConnection)
}

type engineEcho struct{ sess *engine.Session }

func (e *engineEcho) OnMessage(data []byte, binary bool) {
	e.sess.SendMessage(append([]byte(nil), data...), binary)
}

func (e *engineEcho) OnClose(string) {}

func requireToken(s *server.Socket) error {
	if s.Handshake.Auth["token"] != "secret" {
		return &server.ConnectError{Message: "unauthorized", Data: map[string]any{"code": "UNAUTHORIZED"}}
	}
	return nil
}

const greetingDelay = 10 * time.Millisecond

func onConnection(s *server.Socket) {
	// The greeting waits a moment after the CONNECT reply: the protocol suites listen for
	// each frame only after the previous one, so two frames landing in one TCP read lose
	// the second (Node's event loop spaces them by chance).
	time.AfterFunc(greetingDelay, func() { _ = s.Emit("auth", s.Handshake.Auth) }) // {} when none came
	s.On("message", func(args []any, _ server.AckFunc) { _ = s.Emit("message-back", args...) })
	s.On("message-with-ack", func(args []any, ack server.AckFunc) {
		if ack != nil {
			ack(args...)
		}
	})
	s.On("join", func(args []any, ack server.AckFunc) {
		if room, ok := first(args); ok {
			s.Join(room)
		}
		reply(ack, true)
	})
	s.On("leave", func(args []any, ack server.AckFunc) {
		if room, ok := first(args); ok {
			s.Leave(room)
		}
		reply(ack, true)
	})
	s.On("broadcast", func(args []any, ack server.AckFunc) { broadcast(s, args, false, ack) })
	s.On("broadcast-volatile", func(args []any, ack server.AckFunc) { broadcast(s, args, true, ack) })
	s.On("server-ack", func(args []any, ack server.AckFunc) {
		event, ok := first(args)
		if !ok {
			return
		}
		_ = s.EmitWithAck(event, args[1:], 2*time.Second, func(answer []any, err error) {
			if err != nil {
				reply(ack, map[string]any{"error": "timeout"})
				return
			}
			if ack != nil {
				ack(answer...)
			}
		})
	})
	s.On("disconnect-me", func([]any, server.AckFunc) { s.Disconnect(false) })
	s.On("close-transport", func([]any, server.AckFunc) { s.CloseTransport() })
	s.On("rooms", func(_ []any, ack server.AckFunc) {
		rooms := s.Rooms()
		sort.Strings(rooms)
		list := make([]any, len(rooms))
		for i, r := range rooms {
			list[i] = r
		}
		reply(ack, list)
	})
}

func broadcast(s *server.Socket, args []any, volatile bool, ack server.AckFunc) {
	if len(args) < 2 {
		return
	}
	room, _ := args[0].(string)
	event, ok := args[1].(string)
	if !ok {
		return
	}
	op := s.Broadcast()
	if room != "" {
		op = s.To(room)
	}
	if volatile {
		op = op.Volatile()
	}
	_ = op.Emit(event, args[2:]...)
	reply(ack, true)
}

func first(args []any) (string, bool) {
	if len(args) == 0 {
		return "", false
	}
	s, ok := args[0].(string)
	return s, ok
}

func reply(ack server.AckFunc, v any) {
	if ack != nil {
		ack(v)
	}
}
