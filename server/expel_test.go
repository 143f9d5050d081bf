package server

import (
	"testing"

	"edgeio/codec"
	"edgeio/server/engine"
	"edgeio/server/servertest"
)

// DisconnectWhere tells each socket of a matching connection why (the notice, then a
// DISCONNECT) before the connection closes with the reason; other connections are not
// touched. A refusal's Then runs once its CONNECT_ERROR is queued.
func TestDisconnectWhereTellsSocketsFirst(t *testing.T) {
	io := newTestServer(t, Options{})
	reasons := make(chan string, 4)
	io.Of("/").OnConnection(func(s *Socket) { s.OnDisconnect(func(r string) { reasons <- r }) })
	io.Of("/refused").Use(func(s *Socket) error {
		return &ConnectError{Message: "no", Then: func() { s.client.sess.Close("banned") }}
	})
	victim := servertest.Dial(t, io.Engine(), false)
	bystander := servertest.Dial(t, io.Engine(), true)
	victim.Connect("/", nil)
	bystander.Connect("/", nil)

	n := io.DisconnectWhere(func(s *engine.Session) bool { return s == victim.Session() }, "banned",
		func(s *Socket) { _ = s.Emit("error", map[string]any{"code": "BANNED"}) })
	if n != 1 {
		t.Fatalf("DisconnectWhere closed %d connections, want 1", n)
	}
	if args := victim.Event("error"); len(args) != 1 || args[0].(map[string]any)["code"] != "BANNED" {
		t.Fatalf("notice %v", args)
	}
	if p := victim.Next(); p.Type != codec.SDisconnect || p.Nsp != "/" {
		t.Fatalf("after the notice %+v, want DISCONNECT", p)
	}
	if r := <-reasons; r != "banned" {
		t.Fatalf("disconnect reason %q, want banned", r)
	}
	if victim.Session().SendMessage([]byte("x"), false) {
		t.Fatal("the victim's connection is still open")
	}
	bystander.Quiet()
	if !bystander.Session().SendMessage([]byte("x"), false) {
		t.Fatal("the bystander's connection was closed")
	}

	c := servertest.Dial(t, io.Engine(), false)
	if p := c.Connect("/refused", nil); p.Type != codec.SConnectError {
		t.Fatalf("refusal %+v, want CONNECT_ERROR before the close its Then makes", p)
	}
	if c.Session().SendMessage([]byte("x"), false) {
		t.Fatal("Then did not run")
	}
}
