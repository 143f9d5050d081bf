package server

import (
	"sync"
	"sync/atomic"
	"time"

	"edgeio/codec"
	"edgeio/server/engine"
	"edgeio/server/recovery"
	"edgeio/shard"
)

// BroadcastOperator is a broadcast being set up: io.To(room).Except(other).Emit(...).
// Its methods return new operators; one may be reused.
type BroadcastOperator struct {
	nsp      *Namespace
	rooms    []string
	except   []string
	skip     *Socket
	volatile bool
	local    bool
	origin   string // its id on the node it came from (received from another node)
}

func (b *BroadcastOperator) clone() *BroadcastOperator {
	c := *b
	c.rooms = append([]string(nil), b.rooms...)
	c.except = append([]string(nil), b.except...)
	return &c
}

// To adds rooms to deliver to.
func (b *BroadcastOperator) To(rooms ...string) *BroadcastOperator {
	c := b.clone()
	c.rooms = append(c.rooms, rooms...)
	return c
}

// Except skips the members of rooms.
func (b *BroadcastOperator) Except(rooms ...string) *BroadcastOperator {
	c := b.clone()
	c.except = append(c.except, rooms...)
	return c
}

// Volatile drops the message for sockets that cannot take it at once.
func (b *BroadcastOperator) Volatile() *BroadcastOperator {
	c := b.clone()
	c.volatile = true
	return c
}

// Local keeps the broadcast on this node: no adapter carries it to others.
func (b *BroadcastOperator) Local() *BroadcastOperator {
	c := b.clone()
	c.local = true
	return c
}

// From marks a broadcast received from another node with its id there, which a node's
// recovery log keeps beside its own offset (package recovery).
func (b *BroadcastOperator) From(id string) *BroadcastOperator {
	c := b.clone()
	c.origin = id
	return c
}

// Emit sends the event to every matching socket, encoding it once per parser in use, and
// hands it to the adapter (if any) for the other nodes.
func (b *BroadcastOperator) Emit(event string, args ...any) error {
	if isReserved(event) {
		return ErrReservedEvent
	}
	f := &outFrame{
		pkt:      codec.SPacket{Type: codec.SEvent, Nsp: b.nsp.Name, ID: codec.NoID, Data: eventData(event, args)},
		volatile: b.volatile,
		shed:     b.nsp.sheds(event),
		metrics:  b.nsp.srv.metrics,
		stats:    b.nsp.srv.opts.Engine.Stats,
		started:  time.Now(),
	}
	bc := &shard.Broadcast{Msg: f, Done: f.release}
	if len(b.rooms) == 0 {
		bc.Rooms = []string{b.nsp.Name}
	} else {
		bc.Rooms = make([]string, len(b.rooms))
		for i, r := range b.rooms {
			bc.Rooms[i] = b.nsp.roomKey(r)
		}
	}
	for _, r := range b.except {
		bc.Except = append(bc.Except, b.nsp.roomKey(r))
	}
	if b.skip != nil {
		bc.Skip = b.skip
	}
	if rec := b.nsp.srv.recovery; rec != nil && !f.volatile && !f.shed {
		lb := recovery.Broadcast{Nsp: b.nsp.Name, Data: f.pkt.Data.([]any), Rooms: bc.Rooms, Except: bc.Except, ID: b.origin}
		if b.skip != nil {
			lb.Skip = b.skip.ID
		}
		rec.Log(lb, func(offset string) {
			f.offset = offset
			b.nsp.srv.shards.Broadcast(bc)
		})
	} else {
		b.nsp.srv.shards.Broadcast(bc)
	}
	if a := b.nsp.srv.adapter.Load(); a != nil && !b.local {
		except := b.except
		if b.skip != nil { // the sender's id room, as Socket.IO's adapters carry it
			except = append(append([]string(nil), b.except...), b.skip.ID)
		}
		(*a).Publish(b.nsp.Name, b.rooms, except, f.pkt.Data.([]any), b.volatile, f.offset)
	}
	return nil
}

func eventData(event string, args []any) []any {
	data := make([]any, 0, len(args)+1)
	data = append(data, event)
	return append(data, args...)
}

// outFrame is a packet on its way to many sockets, encoded at most once per parser.
type outFrame struct {
	pkt        codec.SPacket
	volatile   bool
	shed       bool   // not sent to congested clients (Namespace.ShedWhenCongested)
	offset     string // its place in the recovery log; "" when not logged
	metrics    *metrics
	started    time.Time
	stats      *engine.Stats
	recipients [encodings]atomic.Int64
	enc        [encodings]struct {
		once     sync.Once
		prepared *engine.Prepared
	}
}

// encodings: each parser's, without and with the recovery offset as the last argument
// (sockets with recovery get the offset; v2 clients and recovery off do not).
const encodings = 2 * parserCount

func encoding(parser parserKind, withOffset bool) int {
	if withOffset {
		return int(parser)*2 + 1
	}
	return int(parser) * 2
}

// prepared returns the frame encoded for parser, with f's offset when withOffset and f
// has one, encoding it on first use.
func (f *outFrame) prepared(parser parserKind, withOffset bool) (*engine.Prepared, int) {
	withOffset = withOffset && f.offset != ""
	i := encoding(parser, withOffset)
	e := &f.enc[i]
	e.once.Do(func() {
		offset := ""
		if withOffset {
			offset = f.offset
		}
		e.prepared = encodeBroadcast(parser, f.pkt, offset)
	})
	return e.prepared, i
}

// encodeBroadcast encodes an event for parser, with offset as its last argument unless "".
func encodeBroadcast(parser parserKind, p codec.SPacket, offset string) *engine.Prepared {
	if offset != "" {
		data := p.Data.([]any)
		p.Data = append(data[:len(data):len(data)], offset)
	}
	pkts, err := encodePacket(parser, &p)
	if err != nil {
		return nil
	}
	return engine.NewPrepared(pkts)
}

// release records the broadcast's figures once every shard has queued its writes.
func (f *outFrame) release() {
	total := 0
	for i := range f.recipients {
		total += int(f.recipients[i].Load())
	}
	f.metrics.observeBroadcast(total, f.started)
	for i := range f.enc {
		f.enc[i].once.Do(func() {}) // every shard is done: no prepared() can race this read
		if p := f.enc[i].prepared; p != nil {
			n := uint64(f.recipients[i].Load())
			f.stats.PacketsOut.Add(n * uint64(p.Packets()))
			f.stats.BytesOut.Add(n * uint64(p.Size()))
		}
	}
}
