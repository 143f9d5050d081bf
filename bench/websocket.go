package bench

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"

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

// dialWebSocket opens the WebSocket and starts its reader; the Engine.IO open packet then
// makes the reader send CONNECT.
func (r *run) dialWebSocket(c *conn, src int, addr string) error {
	var tap *handshakeTap
	opt := &gws.ClientOption{
		Addr:             addr,
		HandshakeTimeout: r.cfg.ConnectTimeout,
		ReadBufferSize:   4096,
		PermessageDeflate: gws.PermessageDeflate{
			Enabled: r.cfg.Deflate, ServerContextTakeover: false, ClientContextTakeover: false,
		},
		NewDialer: func() (gws.Dialer, error) { return tapDialer{r.dialer(src), &tap}, nil },
	}
	ws, resp, err := gws.NewClient(gws.BuiltinEventHandler{}, opt)
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
	deflate := strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
	rd := newWSReader(c, ws, deflate)
	r.readers.Add(1)
	go func() {
		defer r.readers.Done()
		rd.run(tap.Conn, tap.early())
	}()
	return nil
}

// tapDialer puts a handshakeTap on the connection it dials.
type tapDialer struct {
	d   *net.Dialer
	tap **handshakeTap
}

func (t tapDialer) Dial(network, addr string) (net.Conn, error) {
	nc, err := t.d.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	*t.tap = &handshakeTap{Conn: nc}
	return *t.tap, nil
}

// wsCloseReason names why a WebSocket's reading ended.
func wsCloseReason(err error) string {
	var closed wsClosed
	var ne net.Error
	switch {
	case errors.As(err, &closed):
		return closed.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "transport close"
	case errors.As(err, &ne):
		return "transport error"
	default:
		return "transport close"
	}
}
