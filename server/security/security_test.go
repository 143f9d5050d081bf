package security

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanText(t *testing.T) {
	cases := []struct {
		in     string
		mode   SanitizeMode
		out    string
		length int
	}{
		{"  hello  ", SanitizeHTML, "hello", 5},
		{"a\x00b\x07c\nd\te", SanitizeHTML, "abc\nd\te", 7},
		{"<b>bold</b> & <script>alert(1)</script>x", SanitizeHTML, "bold &amp; x", 8},
		{`say "hi" it's <3`, SanitizeHTML, "say &#34;hi&#34; it&#39;s &lt;3", 16},
		{"<b>kept</b>", SanitizeNone, "<b>kept</b>", 11},
		{"AT&amp;T &lt;b&gt;", SanitizeHTML, "AT&amp;amp;T &amp;lt;b&amp;gt;", 18},
		{"héllo wörld", SanitizeHTML, "héllo wörld", 11},
		{" \x01 ", SanitizeHTML, "", 0},
	}
	for _, c := range cases {
		out, n := CleanText(c.in, c.mode)
		if out != c.out || n != c.length {
			t.Errorf("CleanText(%q, %s) = %q, %d; want %q, %d", c.in, c.mode, out, n, c.out, c.length)
		}
	}
}

// Text without a tag skips the HTML parser: it must come out as the parser would make it.
func FuzzCleanTextWithoutTags(f *testing.F) {
	for _, s := range []string{`a & b`, `"quoted" & 'single'`, `x > y`, "&amp; &lt; &#34; &bogus; &", "é&\n\t>",
		strings.Repeat("&", 300), "> 3 & ", "AT&T's \"R&D\" >> x", " \x00&\x7f "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) || strings.Contains(s, "<") {
			return
		}
		got, n := CleanText(s, SanitizeHTML)
		plain, _ := CleanText(s, SanitizeNone) // trimmed, control characters gone
		want := strings.TrimSpace(strict.Sanitize(strings.ReplaceAll(plain, "&", "&amp;")))
		if got != want {
			t.Errorf("CleanText(%.40q) = %.60q, the parser makes %.60q", s, got, want)
		}
		if read := utf8.RuneCountInString(unescapeForCount(got)); n != read {
			t.Errorf("CleanText(%.40q) counts %d characters, the text reads as %d", s, n, read)
		}
	})
}

func TestCleanName(t *testing.T) {
	long := strings.Repeat("é", 300_000)
	cases := []struct {
		in   string
		max  int
		mode SanitizeMode
		out  string
	}{
		{"  Alice  ", 5, SanitizeHTML, "Alice"},
		{"Alice Liddell", 5, SanitizeHTML, "Alice"},
		{"Alice Liddell", 6, SanitizeHTML, "Alice"}, // no trailing space left
		{long, 64, SanitizeHTML, strings.Repeat("é", 64)},
		{"<b>Tom</b> & Jerry", 7, SanitizeHTML, "Tom &amp; J"}, // tags gone, & counts as one
		{"a&b&c&d", 4, SanitizeHTML, "a&amp;b&amp;"},           // never half an entity
		{`"<3"<3"<3`, 3, SanitizeHTML, "&#34;&lt;3"},
		{"<b>kept</b>", 5, SanitizeNone, "<b>ke"},
		{long, 0, SanitizeHTML, long},
	}
	for _, c := range cases {
		out := CleanName(c.in, c.max, c.mode)
		if out != c.out {
			t.Errorf("CleanName(%.20q, %d, %s) = %.40q, want %.40q", c.in, c.max, c.mode, out, c.out)
		}
		if _, n := CleanText(out, SanitizeNone); c.max > 0 && n > 5*c.max {
			t.Errorf("CleanName(%.20q) is %d characters", c.in, n)
		}
	}
}

func TestValidRoomID(t *testing.T) {
	good := []string{"a", "general", "team:red_1.x-y", "user:alice", "A" + string(make([]byte, 0))}
	bad := []string{"", "-lead", ":x", "has space", "ünï", "x/y", string(make([]byte, 129))}
	for _, g := range good {
		if !ValidRoomID(g) {
			t.Errorf("%q refused", g)
		}
	}
	long := "a"
	for len(long) < 129 {
		long += "b"
	}
	bad = append(bad, long)
	for _, b := range bad {
		if ValidRoomID(b) {
			t.Errorf("%q accepted", b)
		}
	}
	if !ValidRoomID(long[:128]) {
		t.Error("128 characters refused")
	}
}

func TestValidLink(t *testing.T) {
	for _, u := range []string{"http://x.io/a", "https://example.com/file.png?x=1", "HTTPS://A.B"} {
		if !ValidLink(u) {
			t.Errorf("%q refused", u)
		}
	}
	for _, u := range []string{"javascript:alert(1)", "ftp://x.io", "data:text/html,hi", "/relative", "http://", "https:///x", "%zz"} {
		if ValidLink(u) {
			t.Errorf("%q accepted", u)
		}
	}
}
