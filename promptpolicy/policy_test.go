package promptpolicy_test

import (
	"errors"
	"testing"

	"github.com/pictor/pictor/promptpolicy"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	p, err := promptpolicy.New([]string{"nude", "裸体", " Logo of ", "straße", "İstanbul", "ｎｓｆｗ"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		text string
		want string // "" means allowed
	}{
		{"plain hit", "a nude model on a beach", "nude"},
		{"upper case", "A NUDE MODEL", "nude"},
		{"mixed case", "a NuDe model", "nude"},
		{"inside a word", "nudes in a studio", "nude"},
		{"full-width latin", "ａ ＮＵＤＥ ｍｏｄｅｌ", "nude"},
		{"half-width term matches full-width text", "ＮＳＦＷ content", "ｎｓｆｗ"},
		{"full-width term matches half-width text", "some nsfw content", "ｎｓｆｗ"},
		{"spaces inside the term", "a n u d e model", "nude"},
		{"tabs and newlines inside the term", "a n\tu\nd\r\ne model", "nude"},
		{"ideographic space inside the term", "a n\u3000ude model", "nude"},
		{"no-break space inside the term", "a nu\u00a0de model", "nude"},
		{"zero-width space", "a nu\u200bde model", "nude"},
		{"byte order mark", "a \ufeffnu\ufeffde model", "nude"},
		{"soft hyphen", "a nu\u00adde model", "nude"},
		{"zero-width joiner", "a n\u200du\u200cde model", "nude"},
		{"chinese without word boundaries", "一个裸体模特", "裸体"},
		{"chinese with an ideographic space inside", "一个裸\u3000体模特", "裸体"},
		{"phrase across spacing", "the LOGO   OF a brand", "Logo of"},
		{"phrase written without its space", "the logoof a brand", "Logo of"},
		{"full case folding", "STRASSE at night", "straße"},
		{"sharp s in the text", "a Straße at night", "straße"},
		{"turkish dotted capital I", "İSTANBUL skyline", "İstanbul"},
		{"first configured term wins", "nsfw and nude", "nude"},
		{"miss: latin", "a model in a red dress", ""},
		{"miss: chinese", "一个穿衣服的模特", ""},
		{"miss: broken by a letter", "nu-de", ""},
		{"miss: empty text", "", ""},
		{"miss: turkish dotless i does not crash", "ıstanbul ı İ i̇", ""},
		{"miss: invalid UTF-8 does not crash", "n\xffude", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			term, ok := p.Check(tc.text)
			if term != tc.want || ok != (tc.want == "") {
				t.Errorf("Check(%q) = %q, %v; want %q, %v", tc.text, term, ok, tc.want, tc.want == "")
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		terms   []string
		wantLen int
		wantErr error
	}{
		{"nil", nil, 0, nil},
		{"empty", []string{}, 0, nil},
		{"blank terms dropped", []string{"", "  ", "\t", "\u3000", "nude"}, 1, nil},
		{"duplicates after normalisation kept once", []string{"nude", "NUDE", "ｎｕｄｅ", "n u d e"}, 1, nil},
		{"only invisible characters", []string{"nude", "\u200b"}, 0, promptpolicy.ErrInvalidTerm},
		{"only a soft hyphen and a BOM", []string{"\u00ad\ufeff"}, 0, promptpolicy.ErrInvalidTerm},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := promptpolicy.New(tc.terms)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("New(%q) error = %v; want %v", tc.terms, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := p.Len(); got != tc.wantLen {
				t.Errorf("Len() = %d; want %d", got, tc.wantLen)
			}
		})
	}
}

func TestEmptyPolicyAllowsEverything(t *testing.T) {
	t.Parallel()
	empty, err := promptpolicy.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var nilPolicy *promptpolicy.Policy
	for name, p := range map[string]*promptpolicy.Policy{"empty": empty, "nil": nilPolicy, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, text := range []string{"", "nude", "裸体", "\u200b"} {
				if term, ok := p.Check(text); !ok || term != "" {
					t.Errorf("Check(%q) = %q, %v; want \"\", true", text, term, ok)
				}
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"ＡＢＣ　ｄｅｆ", "abcdef"},
		{"Straße", "strasse"},
		{"ｶﾀｶﾅ", "カタカナ"},
		{"e\u200b\u0301", "é"},   // invisible removed before composing
		{"a\u00a8b", "a\u0308b"}, // NFKC's space from the diaeresis is removed too
		{"\u00ad\u200b\ufeff\u2060", ""},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			if got := promptpolicy.Normalize(tc.in); got != tc.want {
				t.Errorf("Normalize(%q) = %q; want %q", tc.in, got, tc.want)
			}
		})
	}
}

func BenchmarkCheck(b *testing.B) {
	terms := make([]string, 0, 200)
	for i := range 200 {
		terms = append(terms, string(rune('a'+i%26))+"blocked"+string(rune('A'+i/26)))
	}
	p, err := promptpolicy.New(terms)
	if err != nil {
		b.Fatal(err)
	}
	text := "a product photo on a marble kitchen counter, soft morning light, shallow depth of field, 一个厨房"
	for b.Loop() {
		p.Check(text)
	}
}
