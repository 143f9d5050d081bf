package codec

// TODO(codec helper): implement, with tests, fuzz targets and benchmarks.

// EncodeMsgpack encodes p as socket.io-msgpack-parser does: one msgpack map
// {type, nsp, data?, id?}; data and id are left out when absent, never nil. []byte becomes
// msgpack bin. The bytes are appended to dst.
func EncodeMsgpack(dst []byte, p *SPacket) ([]byte, error) { panic("todo") }

// DecodeMsgpack decodes one msgpack packet. notepack's ext type 0 decodes to nil (undefined,
// fixext 1 with data 0) or []byte (an ArrayBuffer); other keys of the map are ignored.
func DecodeMsgpack(b []byte) (*SPacket, error) { panic("todo") }
