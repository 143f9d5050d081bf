package server

import (
	"sync/atomic"

	"edgeio/codec"
)

// encodeCount counts packet encodes; a broadcast must cost one per parser in use.
var encodeCount atomic.Uint64

// parserKind is the Socket.IO parser a connection speaks.
type parserKind uint8

const (
	parserJSON parserKind = iota
	parserMsgpack
	parserCount
)

// encodeFor encodes p for parser and an Engine.IO protocol: the msgpack parser of v2
// clients (Engine.IO v3) takes CONNECT, DISCONNECT and CONNECT_ERROR as JSON text.
func encodeFor(parser parserKind, protocol int, p *codec.SPacket) ([]codec.EPacket, error) {
	if parser == parserMsgpack && protocol == 3 && (p.Type == codec.SConnect || p.Type == codec.SDisconnect || p.Type == codec.SConnectError) {
		encodeCount.Add(1)
		b, err := codec.EncodeMsgpackText(nil, p)
		return []codec.EPacket{{Type: codec.EMessage, Data: b}}, err
	}
	return encodePacket(parser, p)
}

// encodePacket encodes p for parser as the Engine.IO messages that carry it.
func encodePacket(parser parserKind, p *codec.SPacket) ([]codec.EPacket, error) {
	encodeCount.Add(1)
	if parser == parserMsgpack {
		b, err := codec.EncodeMsgpack(nil, p)
		if err != nil {
			return nil, err
		}
		return []codec.EPacket{{Type: codec.EMessage, Data: b, Binary: true}}, nil
	}
	text, atts, err := codec.EncodeJSON(nil, p)
	if err != nil {
		return nil, err
	}
	pkts := make([]codec.EPacket, 0, 1+len(atts))
	pkts = append(pkts, codec.EPacket{Type: codec.EMessage, Data: text})
	for _, a := range atts {
		pkts = append(pkts, codec.EPacket{Type: codec.EMessage, Data: a, Binary: true})
	}
	return pkts, nil
}
