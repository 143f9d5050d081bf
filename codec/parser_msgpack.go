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
// parser: type 0-4, nsp a string, id a non-negative integer, data shaped per type.
func DecodeMsgpack(b []byte) (*SPacket, error) {
	r := mpReader{b: b}
	_, kind, n, err := r.head()
	if err != nil {
		return nil, err
	}
	if kind != 'm' {
		return nil, errf("msgpack packet is not a map")
	}
	p := &SPacket{ID: NoID}
	// Keys start undefined: absent and set to undefined are the same to notepack users.
	var typ, nsp, id, data any = undefinedT{}, undefinedT{}, undefinedT{}, undefinedT{}
	for range n {
		_, kind, kn, err := r.head()
		if err != nil {
			return nil, err
		}
		if kind != 's' {
			return nil, errf("msgpack map key is not a string")
		}
		ki, err := r.take(kn)
		if err != nil {
			return nil, err
		}
		var dst *any
		switch string(b[ki : ki+kn]) {
		case "type":
			dst = &typ
		case "nsp":
			dst = &nsp
		case "id":
			dst = &id
		case "data":
			dst = &data
		default:
			if err := r.skip(); err != nil {
				return nil, err
			}
			continue
		}
		if *dst, err = r.value(); err != nil {
			return nil, err
		}
	}
	if r.i != len(b) {
		return nil, errf("%d trailing bytes", len(b)-r.i)
	}
	t, ok := typ.(float64)
	if !ok || t < 0 || t > float64(SConnectError) || t != float64(int(t)) {
		return nil, errf("invalid packet type")
	}
	p.Type = SType(t)
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
	_, undef := data.(undefinedT)
	if !undef {
		p.Data = data
	}
	present := !undef
	if err := checkData(p.Type, p.Data, present); err != nil {
		return nil, err
	}
	return p, nil
}
