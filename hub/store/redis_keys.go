package store

import (
	"strconv"
	"strings"
	"sync"
)

// Key layout and message ids of the Redis engine.
//
// Every key is placed in a Redis Cluster hash slot chosen by the engine, not left to the
// key's name: a room's keys go to slot(room), a user's de-duplication index to slot(user),
// where slot(s) = CRC16(s) mod 16384, the function Redis Cluster itself uses. A key names
// its slot with a hash tag {T} in which T is a short string that Redis maps to exactly that
// slot (slotTags: a fixed table computed the same way in every process, which therefore
// must never change). Room and user names stay readable in the key but sit outside the
// braces, so any byte in them is harmless. With P the prefix:
//
//	P:{T}:ids                 string  slot allocator "ms:seq": last id handed out in the slot
//	P:{T}:r:<room>:log        stream  the room's history, one entry per message, entry id =
//	                                  the message's stream id, one field u = author
//	P:{T}:r:<room>:cmid       hash    "<len(user)>:<user><clientMsgId>" -> stream id
//	P:{T}:r:<room>:reads      hash    user -> stream id of the read watermark
//	P:{T}:m:<ms>-<low>        hash    one message: r room, u user, n username, c content,
//	                                  k clientMsgId, a attachments, e edited at (unix ms),
//	                                  x deleted at (unix ms, tombstones), xt delete token
//	P:{T}:op:<token>          string  what one call of the append script did ("code:sid,"
//	                                  per message), kept 30 s so that a retried call is not
//	                                  run again; in the slot of the call's first message
//	P:{U}:u:<user>:cmid       hash    clientMsgId -> stream id, or "~<token>:<deadline ms>"
//	                                  while an Append holds it (see Append)
//	P:{U}:u:<user>:rooms      set     the rooms the user follows (Follow)
//
// T is the tag of the room's slot; U the tag of the user's slot.
//
// A message id is a 64-bit value ms<<22 | seq<<14 | slot, written like the other engines'
// ids (13 characters of base32hex, see ids.go): ms is the Redis server's clock in unix
// milliseconds, seq a counter within the millisecond (0..255; the 257th id of a
// millisecond borrows the next one), slot the room's slot. The message's stream id is
// "ms-low" with low = seq<<14 | slot, so the id and the stream id are the same number:
// stream order, numeric order and string order agree. Within a slot ids come from one
// allocator key updated by the same script that adds the stream entry, so they increase
// across every node writing to Redis, and ids of different slots differ in their low bits,
// so no two rooms ever share an id. Because the id carries its slot, Get, Edit and Delete
// find the message key from the id alone: there is no id -> room index to keep in step.
const (
	slotBits  = 14
	slotCount = 1 << slotBits
	seqBits   = 8
	maxSeq    = 1<<seqBits - 1
	lowBits   = slotBits + seqBits
	lowMask   = 1<<lowBits - 1
)

// crcTable drives CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), Redis Cluster's
// key hash.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crc16(s string) uint16 {
	var c uint16
	for i := 0; i < len(s); i++ {
		c = c<<8 ^ crcTable[byte(c>>8)^s[i]]
	}
	return c
}

// keySlot is the Redis Cluster slot of the string s used as a whole as a hash tag.
func keySlot(s string) int { return int(crc16(s) & (slotCount - 1)) }

// slotTags[i] is the first string in the sequence "0", "1", ..., "z", "10", ... (base 36)
// whose slot is i. Deterministic: every process builds the same table.
var slotTags = sync.OnceValue(func() []string {
	tags := make([]string, slotCount)
	for n, left := uint64(0), slotCount; left > 0; n++ {
		s := strconv.FormatUint(n, 36)
		if i := keySlot(s); tags[i] == "" {
			tags[i] = s
			left--
		}
	}
	return tags
})

// sid is a message's stream id, ms-low.
type sid struct{ ms, low uint64 }

func (x sid) String() string {
	return strconv.FormatUint(x.ms, 10) + "-" + strconv.FormatUint(x.low, 10)
}

func (x sid) id() string    { return formatID(x.ms<<lowBits | x.low) }
func (x sid) slot() int     { return int(x.low & (slotCount - 1)) }
func (x sid) seq() uint64   { return x.low >> slotBits }
func (x sid) clock() uint64 { return x.ms<<seqBits | x.seq() } // for the store's floor

// sidOfID turns a message id into its stream id; ok is false for a malformed id.
func sidOfID(id string) (sid, bool) {
	v, ok := parseID(id)
	if !ok {
		return sid{}, false
	}
	return sid{ms: v >> lowBits, low: v & lowMask}, true
}

// parseSID reads "ms-low" as the scripts write it.
func parseSID(s string) (sid, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return sid{}, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	low, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil || low > lowMask || ms >= 1<<(64-lowBits) {
		return sid{}, false
	}
	return sid{ms: ms, low: low}, true
}

// keyspace builds key names under a prefix.
type keyspace struct{ prefix string }

// slotPart is "P:{T}:" for slot i.
func (k keyspace) slotPart(i int) string { return k.prefix + ":{" + slotTags()[i] + "}:" }

func (k keyspace) alloc(slot int) string   { return k.slotPart(slot) + "ids" }
func (k keyspace) msgBase(slot int) string { return k.slotPart(slot) + "m:" }
func (k keyspace) msg(x sid) string        { return k.msgBase(x.slot()) + x.String() }

func (k keyspace) op(slot int, token string) string { return k.slotPart(slot) + "op:" + token }

// room is one of a room's keys: what is "log", "cmid" or "reads".
func (k keyspace) room(room, what string) string {
	return k.slotPart(keySlot(room)) + "r:" + room + ":" + what
}

func (k keyspace) user(user string) string {
	return k.slotPart(keySlot(user)) + "u:" + user + ":cmid"
}

// follows is the set of rooms a user follows (Follow).
func (k keyspace) follows(user string) string {
	return k.slotPart(keySlot(user)) + "u:" + user + ":rooms"
}

// cmidField is the room-level de-duplication field of (user, clientMsgId); the append
// script rebuilds it the same way when it trims a message.
func cmidField(user, cmid string) string {
	return strconv.Itoa(len(user)) + ":" + user + cmid
}
