package server

import (
	"log"
	"net/netip"
	"sync"
	"time"

	"edgeio/codec"
	"edgeio/server/security"
)

// refusalAnswer is the engine's OnRefusal: a refused handshake's client is told why in
// Socket.IO terms. A v4 client's CONNECT gets a CONNECT_ERROR {message, data: {code,
// retryAfterMs?}} on its namespace, in the parser it spoke: socket.io-client's connect_error
// with err.data.code, after which it does not reconnect by itself. A v2 client, connected to
// "/" without asking, gets with the handshake an ERROR {code, message, retryAfterMs?} (its
// `error` event, like the chat app's own errors) and a DISCONNECT, which stops its
// reconnecting as a ban's expulsion does.
func (s *Server) refusalAnswer(protocol int, why security.Refusal, msg *codec.EPacket) []codec.EPacket {
	if protocol == 3 {
		if msg != nil {
			return nil
		}
		parser := parserJSON
		if s.opts.EIO3Msgpack {
			parser = parserMsgpack
		}
		e := map[string]any{"code": why.Code, "message": why.Message}
		if ms := why.RetryAfter.Milliseconds(); ms > 0 {
			e["retryAfterMs"] = ms
		}
		refusal, err1 := encodeFor(parser, 3, &codec.SPacket{Type: codec.SConnectError, Nsp: "/", ID: codec.NoID, Data: e})
		bye, err2 := encodeFor(parser, 3, &codec.SPacket{Type: codec.SDisconnect, Nsp: "/", ID: codec.NoID})
		if err1 != nil || err2 != nil {
			return nil
		}
		return append(refusal, bye...)
	}
	if msg == nil || msg.Type != codec.EMessage {
		return nil
	}
	var p *codec.SPacket
	var err error
	parser := parserJSON
	if msg.Binary {
		parser = parserMsgpack
		p, err = codec.DecodeMsgpack(msg.Data)
	} else {
		var dec codec.JSONDecoder
		p, err = dec.DecodeText(msg.Data)
	}
	if err != nil || p == nil || p.Type != codec.SConnect {
		return nil
	}
	data := map[string]any{"code": why.Code}
	if ms := why.RetryAfter.Milliseconds(); ms > 0 {
		data["retryAfterMs"] = ms
	}
	pkts, err := encodeFor(parser, 4, &codec.SPacket{Type: codec.SConnectError, Nsp: p.Nsp, ID: codec.NoID,
		Data: map[string]any{"message": why.Message, "data": data}})
	if err != nil {
		return nil
	}
	return pkts
}

// refused counts a refusal of the engine's (a handshake, or a banned address's request)
// and logs it, a line per reason at most every refusalLogEvery.
func (s *Server) refused(why security.Refusal, from netip.Addr) {
	s.Refused(why.Reason)
	s.refusalLog.note(why, from, time.Now())
}

// refusalLogEvery is the least time between two log lines of one refusal reason: a flood
// of refusals is summed up, not written line by line.
const refusalLogEvery = 10 * time.Second

// refusalLog writes refusals to the log: the first of a reason at once, the others of the
// next refusalLogEvery summed up in one line when it is over. It holds a few words per
// reason, whatever the flood.
type refusalLog struct {
	mu      sync.Mutex
	reasons map[string]*refusalTally
	logf    func(format string, args ...any)
}

type refusalTally struct {
	since   time.Time // the last line
	n       int       // refusals not yet written
	last    netip.Addr
	code    string
	pending bool // a summary is scheduled
}

func (l *refusalLog) note(why security.Refusal, from netip.Addr, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reasons == nil {
		l.reasons = make(map[string]*refusalTally)
	}
	if l.logf == nil {
		l.logf = log.Printf
	}
	t := l.reasons[why.Reason]
	if t == nil {
		t = &refusalTally{}
		l.reasons[why.Reason] = t
	}
	if now.Sub(t.since) >= refusalLogEvery && !t.pending {
		t.since = now
		l.logf("edgeio: refused %s: %s (%s%s)", clientName(from), why.Reason, why.Code, retryText(why.RetryAfter))
		return
	}
	t.n++
	t.last, t.code = from, why.Code
	if !t.pending {
		t.pending = true
		time.AfterFunc(refusalLogEvery-now.Sub(t.since), func() { l.flush(why.Reason) })
	}
}

// flush writes what a reason's last period held back.
func (l *refusalLog) flush(reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.reasons[reason]
	t.pending = false
	if t.n == 0 {
		return
	}
	l.logf("edgeio: refused %d more for %s (%s) in the last %s, the last from %s", t.n, reason, t.code,
		time.Since(t.since).Round(time.Second), clientName(t.last))
	t.n, t.since = 0, time.Now()
}

func clientName(a netip.Addr) string {
	if !a.IsValid() {
		return "an unknown address"
	}
	return a.String()
}

func retryText(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return ", retry after " + d.Round(time.Millisecond).String()
}
