package entra

import (
	"cmp"
	"errors"
	"net/url"
	"slices"
	"strings"
)

// redactedText replaces a credential value found in text that an authority
// sent back.
const redactedText = "[redacted]"

// Caps on the text an AuthError takes from a response. Entra sends short
// codes and GUIDs; anything longer is not worth a log line.
const (
	maxDescription = 300
	maxShortField  = 100
	maxCodes       = 10
)

// redactor removes credential values from text that an authority sent back.
// A broken or hostile authority, or a proxy in front of it, may copy the
// request into its error body, and that text ends up in logs through
// AuthError.
type redactor []string

// newRedactor returns a redactor for the values a request carried (client
// secret, client assertion, federated token, identity header). Each value is
// also matched in its form-encoded spelling, because an echoed body is
// form-encoded. A JWT's signature is matched on its own too, so an echo of
// only that part is caught.
func newRedactor(values ...string) redactor {
	var r redactor
	add := func(v string) {
		if v != "" && !slices.Contains(r, v) {
			r = append(r, v)
		}
	}
	for _, v := range values {
		add(v)
		add(url.QueryEscape(v))
		if parts := strings.Split(v, "."); len(parts) == 3 && len(parts[2]) >= 16 {
			add(parts[2])
		}
	}
	// Longest first, so a value that contains another is replaced whole.
	slices.SortFunc(r, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return r
}

// clean returns s with every value replaced by redactedText.
func (r redactor) clean(s string) string {
	for _, v := range r {
		s = strings.ReplaceAll(s, v, redactedText)
	}
	return s
}

// cleanErr returns err, or an error with the same message redacted when the
// message holds a value. The cause is dropped then, since its own message
// holds the value too.
func (r redactor) cleanErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := r.clean(msg); clean != msg {
		return errors.New(clean)
	}
	return err
}

// scrub redacts and caps every text field of e that came from a response.
func (r redactor) scrub(e *AuthError) *AuthError {
	e.Code = clip(r.clean(e.Code), maxShortField)
	e.TraceID = clip(r.clean(e.TraceID), maxShortField)
	e.CorrelationID = clip(r.clean(e.CorrelationID), maxShortField)
	e.Description = clip(r.clean(e.Description), maxDescription)
	if len(e.AADSTSCodes) > maxCodes {
		e.AADSTSCodes = e.AADSTSCodes[:maxCodes]
	}
	e.Err = r.cleanErr(e.Err)
	return e
}

// clip removes control characters, which would let a response forge log
// lines, and cuts s to at most n bytes, the last three of a cut being
// "...". Clipping twice changes nothing.
func clip(s string, n int) string {
	s = strings.Map(func(c rune) rune {
		if c < ' ' || c == 0x7f {
			return ' '
		}
		return c
	}, s)
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n-3], "") + "..."
}
