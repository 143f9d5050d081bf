package bench

import (
	"errors"
	"io"
	"net"
	"strconv"

	"edgeio/codec"

	"github.com/lxzan/gws"
)

var pongText = []byte{'3'}

// wsTransport is a direct WebSocket connection (transports: ["websocket"]).
type wsTransport struct {
	ws *gws.Conn
}

func (t *wsTransport) write(b []byte, binary bool) error {
	op := gws.OpcodeText
	if binary {
		op = gws.OpcodeBinary
	}
	return t.ws.WriteMessage(op, b)
}

// pong answers a ping off the reader goroutine, so a full send buffer cannot stall reads.
func (t *wsTransport) pong() { t.ws.WriteAsync(gws.OpcodeText, pongText, nil) }

func (t *wsTransport) close() { _ = t.ws.WriteClose(1000, nil) }

// wsEvents feeds gws's callbacks (on the connection's reader goroutine) to the conn.
type wsEvents struct {
	c *conn
}

func (e wsEvents) OnOpen(*gws.Conn) {}

func (e wsEvents) OnClose(_ *gws.Conn, err error) { e.c.lost(wsCloseReason(err)) }

func (e wsEvents) OnPing(ws *gws.Conn, payload []byte) { _ = ws.WritePong(payload) }

func (e wsEvents) OnPong(*gws.Conn, []byte) {}

func (e wsEvents) OnMessage(_ *gws.Conn, msg *gws.Message) {
	b := msg.Bytes()
	switch {
	case msg.Opcode == gws.OpcodeBinary:
		e.c.onEngine(codec.EMessage, b, true)
	case len(b) > 0 && b[0] >= '0' && b[0] <= '9':
		e.c.onEngine(codec.EType(b[0]-'0'), b[1:], false)
	}
	_ = msg.Close()
}

// dialWebSocket opens the WebSocket and starts its reader; the Engine.IO open packet then
// makes the reader send CONNECT.
func (r *run) dialWebSocket(c *conn, src int) error {
	opt := &gws.ClientOption{
		Addr:             r.wsURL,
		HandshakeTimeout: r.cfg.ConnectTimeout,
		ReadBufferSize:   4096,
		PermessageDeflate: gws.PermessageDeflate{
			Enabled: r.cfg.Deflate, ServerContextTakeover: false, ClientContextTakeover: false,
		},
		NewDialer: func() (gws.Dialer, error) { return r.dialer(src), nil },
	}
	ws, resp, err := gws.NewClient(wsEvents{c}, opt)
	if err != nil {
		var op *net.OpError
		switch {
		case errors.As(err, &op) && op.Op == "dial":
			return connectError("DIAL")
		case resp != nil:
			return connectError("HTTP " + strconv.Itoa(resp.StatusCode))
		default:
			return connectError("HANDSHAKE")
		}
	}
	c.tr = &wsTransport{ws: ws}
	r.readers.Add(1)
	go func() {
		defer r.readers.Done()
		ws.ReadLoop()
	}()
	return nil
}

// wsCloseReason names why a WebSocket closed.
func wsCloseReason(err error) string {
	var ce *gws.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return "ws close " + strconv.Itoa(int(ce.Code))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "transport close"
	case errors.As(err, &ne):
		return "transport error"
	default:
		return "transport close"
	}
}
