package security

import (
	"net/url"
	"regexp"
	"strings"
)

var roomIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9:_.-]{0,127}$`)

// ValidRoomID reports whether id is a room id docs/events.md allows.
func ValidRoomID(id string) bool { return roomIDPattern.MatchString(id) }

// ValidLink reports whether u is an absolute http or https URL with a host.
func ValidLink(u string) bool {
	if len(u) > 2048 {
		return false
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return false
	}
	scheme := strings.ToLower(p.Scheme)
	return scheme == "http" || scheme == "https"
}
