package codec

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// The default parser (socket.io-parser 4.x):
//
//	<type>[<attachments>-][<nsp>,][<ack id>][<JSON data>]

// EncodeJSON encodes p with the default parser: the text packet and, when Data holds []byte
// values (in []any / map[string]any trees), the binary attachments, with Type turned into
// BINARY_EVENT / BINARY_ACK and placeholders {"_placeholder":true,"num":n}.
// The text is appended to dst.
//
// Attachments alias the []byte values of Data. []byte values in other packet types, and
// inside values left to encoding/json (structs...), are base64 strings as encoding/json
// writes them. More than MaxAttachments attachments is ErrTooManyAttachment, since
// socket.io-parser clients refuse them. On error dst is returned unchanged.
func EncodeJSON(dst []byte, p *SPacket) (text []byte, attachments [][]byte, err error) {
	t := p.Type
	if t > SBinaryAck {
		return dst, nil, errf("unknown packet type %d", t)
	}
	if p.ID < NoID {
		return dst, nil, errf("negative ack id %d", p.ID)
	}
	nsp := p.Nsp
	if nsp == "/" {
		nsp = ""
	}
	if nsp != "" && (nsp[0] != '/' || strings.IndexByte(nsp, ',') >= 0) {
		return dst, nil, errf("namespace %q cannot be written", nsp)
	}
	attach := t == SEvent || t == SAck || t == SBinaryEvent || t == SBinaryAck
	orig := len(dst)
	dst = append(dst, '0'+byte(t))
	if nsp != "" {
		dst = append(append(dst, nsp...), ',')
	}
	if p.ID != NoID {
		dst = strconv.AppendInt(dst, p.ID, 10)
	}
	e := jsonEncoder{buf: dst, attach: attach}
	if p.Data != nil {
		if err := e.value(p.Data); err != nil {
			return dst[:orig], nil, err
		}
	}
	n := len(e.atts)
	if n > MaxAttachments {
		return dst[:orig], nil, ErrTooManyAttachment
	}
	if n == 0 && t != SBinaryEvent && t != SBinaryAck {
		return e.buf, nil, nil
	}
	// Binary after all: fix the type and insert the attachment count. Writing the data
	// first spares the common case a second walk to count []byte values.
	switch t {
	case SEvent:
		t = SBinaryEvent
	case SAck:
		t = SBinaryAck
	}
	e.buf[orig] = '0' + byte(t)
	var hdr [8]byte
	count := append(strconv.AppendInt(hdr[:0], int64(n), 10), '-')
	return slices.Insert(e.buf, orig+1, count...), e.atts, nil
}

// JSONDecoder reassembles packets of one connection: a BINARY_* packet waits for its
// attachments. The zero value is ready to use.
//
// Decoded packets never alias the input. BINARY_EVENT / BINARY_ACK come out as SEvent /
// SAck (as socket.io-parser does), with the attachments in place of the placeholders.
// A packet whose data would take more than its budget (budget.go) is a *BudgetError.
type JSONDecoder struct {
	// Budget is the heap a packet's data may take per byte of its text, plus BudgetBase
	// (DefaultBudget when 0; no budget when negative).
	Budget int

	pending *SPacket
	want    int
	bufs    [][]byte
}

// DecodeText decodes a text packet. It returns nil (and no error) for a binary packet that
// now waits for its attachments.
func (d *JSONDecoder) DecodeText(b []byte) (*SPacket, error) {
	if d.pending != nil {
		d.Reset()
		return nil, errf("text packet while attachments were due")
	}
	p, n, err := decodeJSONPacket(b, budgetLimit(len(b), d.Budget))
	if err != nil || n == 0 {
		return p, err
	}
	d.pending, d.want = p, n
	return nil, nil
}

// DecodeBinary adds one attachment; it returns the packet once the last one arrives.
func (d *JSONDecoder) DecodeBinary(b []byte) (*SPacket, error) {
	if d.pending == nil {
		return nil, ErrUnexpectedBinary
	}
	d.bufs = append(d.bufs, append([]byte{}, b...))
	if len(d.bufs) < d.want {
		return nil, nil
	}
	p := d.pending
	data, err := fillPlaceholders(p.Data, d.bufs)
	d.Reset()
	if err != nil {
		return nil, err
	}
	p.Data = data
	return p, nil
}

// Reset drops a half-assembled packet.
func (d *JSONDecoder) Reset() {
	clear(d.bufs)
	d.pending, d.want, d.bufs = nil, 0, d.bufs[:0]
}

// decodeJSONPacket decodes one text packet; n is the number of attachments still due.
// Its data may take limit bytes of heap.
func decodeJSONPacket(b []byte, limit int) (p *SPacket, n int, err error) {
	if len(b) == 0 || b[0] < '0' || b[0] > '0'+byte(SBinaryAck) {
		return nil, 0, errf("unknown packet type")
	}
	t := SType(b[0] - '0')
	i := 1
	if t == SBinaryEvent || t == SBinaryAck {
		digits := 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if digits++; digits > 2 {
				return nil, 0, ErrTooManyAttachment
			}
			n = n*10 + int(b[i]-'0')
		}
		if digits == 0 || i == len(b) || b[i] != '-' {
			return nil, 0, errf("illegal attachments")
		}
		if n > MaxAttachments {
			return nil, 0, ErrTooManyAttachment
		}
		if n == 0 {
			// a binary packet without binary: socket.io-parser refuses it too
			return nil, 0, errf("binary packet without attachments")
		}
		i++
		if t == SBinaryEvent {
			t = SEvent
		} else {
			t = SAck
		}
	}
	p = &SPacket{Type: t, Nsp: "/", ID: NoID}
	if i == len(b) {
		return p, n, checkData(t, nil, false)
	}
	// The header is read, and a large packet's data measured, in b itself (they keep
	// nothing of it); then one copy of the text is made, of which the namespace and plain
	// strings are substrings: a packet refused by its measure costs no copy.
	text := unsafe.String(unsafe.SliceData(b), len(b))
	var nsp [2]int
	if text[i] == '/' {
		j := strings.IndexByte(text[i:], ',')
		if j < 0 {
			j = len(text) - i
		}
		nsp = [2]int{i, i + j}
		i = min(i+j+1, len(text))
	}
	if i < len(text) && text[i] >= '0' && text[i] <= '9' {
		start := i
		var id int64
		for ; i < len(text) && text[i] >= '0' && text[i] <= '9'; i++ {
			id = id*10 + int64(text[i]-'0')
		}
		if i-start > 16 || id > maxAckID {
			return nil, 0, errf("ack id too large")
		}
		p.ID = id
	}
	if i < len(text) && len(b) > measureAbove {
		if err := measureJSON(text, i, limit); err != nil {
			if nsp[1] > 0 {
				p.Nsp = fixUTF8(strings.Clone(text[nsp[0]:nsp[1]]))
			}
			return nil, 0, budgetError(err, p, limit)
		}
	}
	s := string(b)
	if nsp[1] > 0 {
		p.Nsp = fixUTF8(s[nsp[0]:nsp[1]])
	}
	if i < len(s) {
		if p.Data, err = parseJSON(s, i, limit); err != nil {
			return nil, 0, budgetError(err, p, limit)
		}
	}
	if err := checkData(t, p.Data, i < len(s)); err != nil {
		return nil, 0, err
	}
	return p, n, nil
}

// budgetError turns errOverBudget into p's *BudgetError; other errors stay as they are.
func budgetError(err error, p *SPacket, limit int) error {
	if err == errOverBudget {
		return &BudgetError{Type: p.Type, Nsp: p.Nsp, ID: p.ID, Limit: limit}
	}
	return err
}

// fillPlaceholders swaps {"_placeholder":true,"num":n} objects for the attachments.
func fillPlaceholders(v any, bufs [][]byte) (any, error) {
	switch v := v.(type) {
	case []any:
		for i, x := range v {
			y, err := fillPlaceholders(x, bufs)
			if err != nil {
				return nil, err
			}
			v[i] = y
		}
	case map[string]any:
		if ph, _ := v["_placeholder"].(bool); ph {
			num, ok := v["num"].(float64)
			if !ok || num < 0 || num >= float64(len(bufs)) || num != math.Trunc(num) {
				return nil, errf("illegal attachment placeholder")
			}
			return bufs[int(num)], nil
		}
		for k, x := range v {
			y, err := fillPlaceholders(x, bufs)
			if err != nil {
				return nil, err
			}
			if _, isBin := y.([]byte); isBin {
				v[k] = y
			}
		}
	}
	return v, nil
}
