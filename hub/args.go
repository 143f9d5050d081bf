package hub

import (
	"math"
	"strconv"
	"unicode/utf8"

	"edgeio/server/security"
)

// Readers of event arguments: each returns a chatError naming what is wrong, so that a bad
// argument is refused before anything is touched.

func argString(args []any, what string) (string, *chatError) {
	if len(args) == 0 {
		return "", invalid(what + " is required")
	}
	s, ok := args[0].(string)
	if !ok {
		return "", invalid(what + " must be a string")
	}
	if !utf8.ValidString(s) {
		return "", invalid(what + " must be valid UTF-8")
	}
	return s, nil
}

func argObject(args []any) (map[string]any, *chatError) {
	if len(args) == 0 {
		return nil, invalid("an object argument is required")
	}
	m, ok := args[0].(map[string]any)
	if !ok {
		return nil, invalid("the argument must be an object")
	}
	return m, nil
}

// roomObject reads an event whose argument is an object with a roomId.
func roomObject(args []any) (map[string]any, string, *chatError) {
	obj, err := argObject(args)
	if err != nil {
		return nil, "", err
	}
	room, err := roomArg(obj["roomId"])
	return obj, room, err
}

// argAt is args[i], or nil when there are fewer.
func argAt(args []any, i int) any {
	if i < len(args) {
		return args[i]
	}
	return nil
}

// firstRoomArg reads an event whose argument is a room id.
func firstRoomArg(args []any) (string, *chatError) {
	if len(args) == 0 {
		return "", invalid("roomId is required")
	}
	return roomArg(args[0])
}

func roomArg(v any) (string, *chatError) {
	id, ok := v.(string)
	if !ok || !security.ValidRoomID(id) {
		return "", invalid("roomId must be 1 to 128 letters, digits or : _ . - and start with a letter or digit")
	}
	return id, nil
}

// optString reads an optional string field (absent or null is "").
func optString(m map[string]any, key string, max int) (string, *chatError) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok || !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return "", invalid(key + " must be a string of at most " + strconv.Itoa(max) + " characters")
	}
	return s, nil
}

// optInt reads an optional whole number field in [lo, hi]; def when absent.
func optInt(m map[string]any, key string, lo, hi, def int) (int, *chatError) {
	v, ok := m[key]
	if !ok || v == nil {
		return def, nil
	}
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		return 0, invalid(key + " must be a whole number from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi))
	}
	return int(f), nil
}
