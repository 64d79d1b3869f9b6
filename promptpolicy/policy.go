// Package promptpolicy decides whether a prompt names a blocked term. Both the terms and the
// text are normalised first, so the check does not depend on case, character width
// (full-width ＮＵＤＥ is nude), compatibility forms, whitespace or invisible characters
// placed inside a word; matching is by substring, so it works for scripts written without
// spaces between words, such as Chinese. A leaf: it knows nothing of HTTP or the catalog.
package promptpolicy

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// ErrInvalidTerm is matched (errors.Is) by the error New returns for a term that is not blank
// but has nothing left once normalised (only invisible characters, for example).
var ErrInvalidTerm = errors.New("invalid blocklist term")

// Policy holds blocked terms, each with its normalised form. The zero Policy and a nil
// *Policy block nothing. A Policy is immutable and safe for concurrent use.
type Policy struct {
	terms []string // as configured, surrounding whitespace trimmed
	norm  []string // normalised, same index as terms
}

// New builds a policy from terms. Blank terms are dropped; a term that normalises to nothing
// is an error wrapping ErrInvalidTerm; terms that normalise alike are kept once (the first).
// A nil or empty list gives a policy that allows every text.
func New(terms []string) (*Policy, error) {
	p := &Policy{}
	seen := map[string]bool{}
	for _, t := range terms {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		n := Normalize(t)
		if n == "" {
			return nil, fmt.Errorf("term %q has no visible characters: %w", t, ErrInvalidTerm)
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		p.terms = append(p.terms, t)
		p.norm = append(p.norm, n)
	}
	return p, nil
}

// Len returns the number of distinct terms; 0 for a nil policy.
func (p *Policy) Len() int {
	if p == nil {
		return 0
	}
	return len(p.terms)
}

// Check reports whether text is allowed. When it is not, term is the first blocked term
// (in configured order, surrounding whitespace trimmed) found in the normalised text and ok
// is false; otherwise term is "" and ok is true. A nil policy allows everything.
func (p *Policy) Check(text string) (term string, ok bool) {
	if p == nil || len(p.norm) == 0 {
		return "", true
	}
	t := Normalize(text)
	for i, n := range p.norm {
		if strings.Contains(t, n) {
			return p.terms[i], false
		}
	}
	return "", true
}

// Normalize returns the form of s that Check compares: invisible characters removed, then
// Unicode NFKC (full-width and other compatibility forms to their plain letters), full case
// folding (so "STRASSE" and "straße" agree), NFKC again (folding may leave text that is not
// normalised), and finally every whitespace and invisible character removed (NFKC turns some
// characters into a space plus a mark). Invisible are the white space of unicode.IsSpace
// (ideographic space U+3000 among them), format characters (category Cf: zero-width space
// U+200B, joiners, U+FEFF, soft hyphen U+00AD, bidi controls), variation selectors and the
// other default-ignorable code points.
func Normalize(s string) string {
	s = strings.Map(visible, s)
	s = norm.NFKC.String(s)
	s = cases.Fold().String(s) // a Caser is stateful: a fresh one per call
	s = norm.NFKC.String(s)
	return strings.Map(visible, s)
}

// visible maps invisible runes to -1 (dropped by strings.Map) and keeps the rest.
func visible(r rune) rune {
	if unicode.IsSpace(r) || unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) {
		return -1
	}
	return r
}
