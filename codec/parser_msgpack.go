package codec

import "math"

// The msgpack parser (npm socket.io-msgpack-parser 3.0.2 on notepack.io): each packet is
// one map {type, nsp, data?, id?}; binary needs no attachments, so there are no BINARY_*
// types.

// EncodeMsgpack encodes p as socket.io-msgpack-parser does: one msgpack map
// {type, nsp, data?, id?}; data and id are left out when absent, never nil. []byte becomes
// msgpack bin. The bytes are appended to dst.
//
// BINARY_EVENT / BINARY_ACK are written as EVENT / ACK. Values outside the data tree go
// to vmihailenco/msgpack with json struct tags (omitempty honoured); a json.Marshaler is
// written as the JSON it produces, and time.Time as a notepack Date. On error dst is
// returned unchanged.
func EncodeMsgpack(dst []byte, p *SPacket) ([]byte, error) {
	t := p.Type
	switch t {
	case SBinaryEvent:
		t = SEvent
	case SBinaryAck:
		t = SAck
	}
	if t > SConnectError {
		return dst, errf("unknown packet type %d", p.Type)
	}
	if p.ID < NoID {
		return dst, errf("negative ack id %d", p.ID)
	}
	n := byte(2)
	if p.Data != nil {
		n++
	}
	if p.ID != NoID {
		n++
	}
	orig := len(dst)
	dst = append(dst, 0x80|n, 0xa4, 't', 'y', 'p', 'e', byte(t), 0xa3, 'n', 's', 'p')
	nsp := p.Nsp
	if nsp == "" {
		nsp = "/"
	}
	dst = appendMPString(dst, nsp)
	if p.Data != nil {
		e := mpEncoder{buf: append(dst, 0xa4, 'd', 'a', 't', 'a')}
		if err := e.value(p.Data); err != nil {
			return dst[:orig], err
		}
		dst = e.buf
	}
	if p.ID != NoID {
		dst = appendMPInt(append(dst, 0xa2, 'i', 'd'), p.ID)
	}
	return dst, nil
}

// DecodeMsgpack decodes one msgpack packet. notepack's ext type 0 decodes to nil (undefined,
// fixext 1 with data 0) or []byte (an ArrayBuffer); other keys of the map are ignored.
//
// Numbers become float64 and a notepack Date (fixext 8, type 0) its ISO string, so the tree
// matches the JSON parser's. The packet never aliases b. Validation follows the JSON
// parser: type 0-4, nsp a string, id a non-negative integer, data shaped per type. Its data
// may take DefaultBudget (MsgpackDecoder.Budget).
func DecodeMsgpack(b []byte) (*SPacket, error) { return MsgpackDecoder{}.Decode(b) }

// DecodeMsgpackV2 decodes one msgpack packet of socket.io-msgpack-parser 2.x (the parser of
// socket.io-client 2.x), which types an event or ack that holds binary BINARY_EVENT (5) or
// BINARY_ACK (6): they come out as SEvent and SAck, as from DecodeMsgpack.
func DecodeMsgpackV2(b []byte) (*SPacket, error) { return MsgpackDecoder{V2: true}.Decode(b) }

// DecodeMsgpackText decodes a text message of socket.io-msgpack-parser 2.x, the parser of
// socket.io-client 2.x: it sends CONNECT, DISCONNECT and ERROR as JSON.stringify(packet),
// an object {type, nsp, data?, id?}, and everything else as msgpack. Validation is
// DecodeMsgpack's; other keys (a v2 CONNECT's query) are ignored.
func DecodeMsgpackText(b []byte) (*SPacket, error) { return MsgpackDecoder{}.DecodeText(b) }

// MsgpackDecoder decodes the msgpack parser's packets with a decode budget (budget.go): a
// packet whose data would take more is a *BudgetError. The zero value decodes
// socket.io-msgpack-parser 3.x packets with DefaultBudget.
type MsgpackDecoder struct {
	// Budget is the heap a packet's data may take per byte of it, plus BudgetBase
	// (DefaultBudget when 0; no budget when negative).
	Budget int
	// V2 takes socket.io-msgpack-parser 2.x's packets (DecodeMsgpackV2, DecodeMsgpackText).
	V2 bool
}

// Decode decodes one msgpack packet (DecodeMsgpack, or DecodeMsgpackV2 with V2).
func (d MsgpackDecoder) Decode(b []byte) (*SPacket, error) {
	return decodeMsgpack(b, budgetLimit(len(b), d.Budget), d.V2)
}

// DecodeText decodes a text message of socket.io-msgpack-parser 2.x (DecodeMsgpackText).
func (d MsgpackDecoder) DecodeText(b []byte) (*SPacket, error) {
	return decodeMsgpackText(b, budgetLimit(len(b), d.Budget))
}

// headerWalk bounds the values passed over to find the header of a packet over its budget
// (tens of microseconds): beyond, the refusal carries no ack id, and a flood of refused
// packets costs the server a read each rather than a walk over each.
const headerWalk = 1 << 12

// decodeMsgpack decodes one packet whose data may take limit bytes of heap; with
// binaryTypes, 2.x's BINARY_EVENT and BINARY_ACK are taken as EVENT and ACK.
func decodeMsgpack(b []byte, limit int, binaryTypes bool) (*SPacket, error) {
	if len(b) > measureAbove {
		r := mpReader{b: b, left: limit, limit: limit}
		if _, _, _, _, err := r.packet(measureData); err != nil {
			return nil, overBudget(err, b, "", limit, binaryTypes)
		}
	}
	r := mpReader{b: b, left: limit, limit: limit}
	typ, nsp, id, data, err := r.packet(buildData)
	if err != nil {
		return nil, overBudget(err, b, r.s, limit, binaryTypes)
	}
	return packetOf(typ, nsp, id, data, binaryTypes)
}

// overBudget turns errOverBudget into a *BudgetError with the packet's header, read again
// for its sender's sake: passing over the data (a msgpack client writes the id after it)
// as long as that is cheap. s is the packet's text if it was copied already. Other errors
// are returned as they are.
func overBudget(err error, b []byte, s string, limit int, binaryTypes bool) error {
	if err != errOverBudget {
		return err
	}
	e := &BudgetError{ID: NoID, Limit: limit}
	r := mpReader{b: b, s: s, left: limit, walk: headerWalk}
	if typ, nsp, id, _, err := r.packet(passData); err == nil {
		if p, err := headerOf(typ, nsp, id, binaryTypes); err == nil {
			e.Type, e.Nsp, e.ID = p.Type, p.Nsp, p.ID
		}
	}
	return e
}

func decodeMsgpackText(b []byte, limit int) (*SPacket, error) {
	s := string(b)
	var v any
	var err error
	if len(b) > measureAbove {
		err = measureJSON(s, 0, limit)
	}
	if err == nil {
		v, err = parseJSON(s, 0, limit)
	}
	if err == errOverBudget {
		return nil, &BudgetError{ID: NoID, Limit: limit} // not an event: nothing to answer
	}
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errf("msgpack text packet is not an object")
	}
	field := func(k string) any {
		if v, ok := obj[k]; ok {
			return v
		}
		return undefinedT{}
	}
	return packetOf(field("type"), field("nsp"), field("id"), field("data"), false)
}

// EncodeMsgpackText encodes a CONNECT, DISCONNECT or CONNECT_ERROR packet as
// socket.io-msgpack-parser 2.x does: JSON.stringify(packet) in a text message.
func EncodeMsgpackText(dst []byte, p *SPacket) ([]byte, error) {
	if p.Type != SConnect && p.Type != SDisconnect && p.Type != SConnectError {
		return dst, errf("packet type %d goes as msgpack", p.Type)
	}
	orig := len(dst)
	dst = append(dst, `{"type":`...)
	dst = append(dst, '0'+byte(p.Type))
	dst = append(dst, `,"nsp":`...)
	dst = appendJSONString(dst, p.Nsp)
	if p.Data != nil {
		e := jsonEncoder{buf: append(dst, `,"data":`...)}
		if err := e.value(p.Data); err != nil {
			return dst[:orig], err
		}
		dst = e.buf
	}
	return append(dst, '}'), nil
}

// What packet does with a packet's data.
type dataMode uint8

const (
	buildData   dataMode = iota // decode it (and the other fields)
	measureData                 // charge what it would take, building nothing
	passData                    // pass over it, reading only the other fields
)

// packet reads a packet's map: its fields, undefinedT where absent; other keys are passed
// over. How the data is read is mode's.
func (r *mpReader) packet(mode dataMode) (typ, nsp, id, data any, err error) {
	_, kind, n, err := r.head()
	if err != nil {
		return
	}
	if kind != 'm' {
		err = errf("msgpack packet is not a map")
		return
	}
	// Keys start undefined: absent and set to undefined are the same to notepack users.
	typ, nsp, id, data = undefinedT{}, undefinedT{}, undefinedT{}, undefinedT{}
	for range n {
		_, kind, kn, err := r.head()
		if err != nil {
			return typ, nsp, id, data, err
		}
		if kind != 's' {
			return typ, nsp, id, data, errf("msgpack map key is not a string")
		}
		ki, err := r.take(kn)
		if err != nil {
			return typ, nsp, id, data, err
		}
		var dst *any
		charge := false
		switch string(r.b[ki : ki+kn]) {
		case "type":
			dst = &typ
		case "nsp":
			dst = &nsp
		case "id":
			dst = &id
		case "data":
			dst, charge = &data, mode == measureData
		}
		switch {
		case dst == nil || mode == measureData || dst == &data && mode == passData:
			err = r.skip(charge)
		default:
			*dst, err = r.value()
		}
		if err != nil {
			return typ, nsp, id, data, err
		}
	}
	if r.i != len(r.b) {
		err = errf("%d trailing bytes", len(r.b)-r.i)
	}
	return
}

// packetOf validates the fields of a decoded packet (undefinedT where absent); with
// binaryTypes, BINARY_EVENT and BINARY_ACK are taken as EVENT and ACK.
func packetOf(typ, nsp, id, data any, binaryTypes bool) (*SPacket, error) {
	p, err := headerOf(typ, nsp, id, binaryTypes)
	if err != nil {
		return nil, err
	}
	_, undef := data.(undefinedT)
	if !undef {
		p.Data = data
	}
	if err := checkData(p.Type, p.Data, !undef); err != nil {
		return nil, err
	}
	return p, nil
}

// headerOf validates a packet's type, namespace and ack id (packetOf).
func headerOf(typ, nsp, id any, binaryTypes bool) (*SPacket, error) {
	p := &SPacket{ID: NoID}
	t, ok := typ.(float64)
	last := float64(SConnectError)
	if binaryTypes {
		last = float64(SBinaryAck)
	}
	if !ok || t < 0 || t > last || t != float64(int(t)) {
		return nil, errf("invalid packet type")
	}
	p.Type = SType(t)
	switch p.Type {
	case SBinaryEvent:
		p.Type = SEvent
	case SBinaryAck:
		p.Type = SAck
	}
	if p.Nsp, ok = nsp.(string); !ok {
		return nil, errf("invalid namespace")
	}
	if _, undef := id.(undefinedT); !undef {
		f, ok := id.(float64)
		if !ok || f < 0 || f > maxAckID || f != math.Trunc(f) {
			return nil, errf("invalid ack id")
		}
		p.ID = int64(f)
	}
	return p, nil
}
