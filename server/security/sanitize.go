package security

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
)

// SanitizeMode is how text content is cleaned (--sanitize).
type SanitizeMode string

// Sanitize modes.
const (
	SanitizeHTML SanitizeMode = "html" // tags removed, < > & " ' escaped
	SanitizeNone SanitizeMode = "none" // text kept as sent (control characters still go)
)

var strict = bluemonday.StrictPolicy()

// CleanText trims s, drops control characters other than newline and tab, and in html mode
// removes tags and escapes what is left. It reports the length of the trimmed text in
// characters, before escaping, which is what limits apply to. s must be valid UTF-8.
func CleanText(s string, mode SanitizeMode) (clean string, length int) {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || !unicode.IsControl(r) {
			return r
		}
		return -1
	}, s)
	s = strings.TrimSpace(s)
	if mode != SanitizeNone && strings.ContainsAny(s, "<>&\"'") {
		// Only text with markup needs the (costly: 3 ms for 10 KB) HTML parser; text
		// without a tag is escaped as the parser would escape it. An & typed by the user is
		// text too: escaped first, so "&amp;" stays "&amp;amp;" rather than being read as
		// an entity.
		if !strings.Contains(s, "<") {
			return html.EscapeString(s), utf8.RuneCountInString(s)
		}
		s = strings.TrimSpace(strict.Sanitize(strings.ReplaceAll(s, "&", "&amp;")))
		return s, utf8.RuneCountInString(unescapeForCount(s))
	}
	return s, utf8.RuneCountInString(s)
}

var unescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "&#34;", `"`, "&#39;", "'", "&quot;", `"`)

// unescapeForCount undoes the escaping so that "<3" counts as two characters, not five.
func unescapeForCount(s string) string { return unescaper.Replace(s) }

// CleanName cleans a display name as CleanText does and cuts it to max characters, counted
// as limits are (before escaping); max <= 0 keeps any length. A name many times too long
// is cut before cleaning too, so that it costs no more to clean than a long one.
func CleanName(s string, max int, mode SanitizeMode) string {
	if max <= 0 {
		clean, _ := CleanText(s, mode)
		return clean
	}
	clean, n := CleanText(cutRunes(s, 8*max), mode)
	if n <= max {
		return clean
	}
	if mode == SanitizeNone {
		return strings.TrimSpace(cutRunes(clean, max))
	}
	// cut the text as read, then escape it again: never half an entity
	return html.EscapeString(strings.TrimSpace(cutRunes(unescapeForCount(clean), max)))
}

// cutRunes returns the first n characters of s.
func cutRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
