package manifest

import (
	"bufio"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	// xmlMaxDepth bounds element nesting in any part (an honest sheet nests
	// six deep); encoding/xml keeps nothing per level in RawToken, but a
	// deeper part is not a workbook.
	xmlMaxDepth = 64
	// xmlCtxEvery is how many tokens pass between context checks.
	xmlCtxEvery = 4096
)

// tokenGuard is the byte source of an xmlPart's decoder. encoding/xml
// buffers a whole token (text, tag, comment) before returning it, so the
// guard fails a read once the token being read has grown past max bytes.
type tokenGuard struct {
	br   *bufio.Reader
	n    int64 // bytes read
	mark int64 // n when the current token began
	max  int64
	err  error // the limit error, once tripped
	part string
}

func (g *tokenGuard) ReadByte() (byte, error) {
	if g.n-g.mark >= g.max {
		g.err = limitErr("MaxCellBytes", g.part, "an XML token (text or tag) longer than %d bytes", g.max)
		return 0, g.err
	}
	b, err := g.br.ReadByte()
	if err == nil {
		g.n++
	}
	return b, err
}

// Read is there for io.Reader; encoding/xml reads an io.ByteReader byte by
// byte.
func (g *tokenGuard) Read(p []byte) (int, error) {
	for i := range p {
		b, err := g.ReadByte()
		if err != nil {
			return i, err
		}
		p[i] = b
	}
	return len(p), nil
}

// xmlPart is one workbook part streamed token by token.
type xmlPart struct {
	ctx    context.Context
	name   string
	rc     io.ReadCloser
	guard  *tokenGuard
	dec    *xml.Decoder
	depth  int
	tokens int
}

func newXMLPart(ctx context.Context, name string, rc io.ReadCloser, lim Limits) *xmlPart {
	g := &tokenGuard{br: bufio.NewReaderSize(rc, 32<<10), max: 4*int64(lim.MaxCellBytes) + 4<<10, part: name}
	dec := xml.NewDecoder(g)
	return &xmlPart{ctx: ctx, name: name, rc: rc, guard: g, dec: dec}
}

func (p *xmlPart) Close() error { return p.rc.Close() }

// next returns the next token, io.EOF at the end of the part, or an error
// naming the part. Start and end elements carry local names only; char
// data is valid until the next call.
func (p *xmlPart) next() (xml.Token, error) {
	p.tokens++
	if p.tokens%xmlCtxEvery == 0 {
		if err := p.ctx.Err(); err != nil {
			return nil, err
		}
	}
	p.guard.mark = p.guard.n
	tok, err := p.dec.RawToken()
	if p.guard.err != nil {
		return nil, p.guard.err
	}
	if err == io.EOF {
		if p.depth != 0 {
			return nil, fmt.Errorf("%s: unexpected end of part: %w", p.name, ErrInvalidManifest)
		}
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("%s: damaged part: %v: %w", p.name, err, ErrInvalidManifest)
	}
	switch t := tok.(type) {
	case xml.StartElement:
		p.depth++
		if p.depth > xmlMaxDepth {
			return nil, fmt.Errorf("%s: elements nested deeper than %d: %w", p.name, xmlMaxDepth, ErrInvalidManifest)
		}
	case xml.EndElement:
		p.depth--
		if p.depth < 0 {
			return nil, fmt.Errorf("%s: unbalanced end element %q: %w", p.name, t.Name.Local, ErrInvalidManifest)
		}
	}
	return tok, nil
}

// attr returns the value of the attribute with this local name (any
// prefix), or "".
func attr(se xml.StartElement, local string) string {
	for _, a := range se.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// textReader collects the text of a shared string or inline string (<si>,
// <is>): the <t> elements, directly or in rich-text runs, but not phonetic
// runs (<rPh>). It fails past MaxCellBytes.
type textReader struct {
	buf      []byte
	inT      int // depth inside <t>
	inRPh    int // depth inside <rPh>
	max      int
	tooLarge bool
}

func (tr *textReader) reset() {
	tr.buf, tr.inT, tr.inRPh, tr.tooLarge = tr.buf[:0], 0, 0, false
}

// token feeds one token from inside the string's element.
func (tr *textReader) token(tok xml.Token) {
	switch t := tok.(type) {
	case xml.StartElement:
		switch t.Name.Local {
		case "t":
			tr.inT++
		case "rPh":
			tr.inRPh++
		}
	case xml.EndElement:
		switch t.Name.Local {
		case "t":
			tr.inT--
		case "rPh":
			tr.inRPh--
		}
	case xml.CharData:
		if tr.inT > 0 && tr.inRPh == 0 {
			if len(tr.buf)+len(t) > tr.max {
				tr.tooLarge = true
				return
			}
			tr.buf = append(tr.buf, t...)
		}
	}
}

// sharedStrings is the shared-string table: each string's end offset in
// memory (4 bytes a string), the first sstMemBytes of text in memory and
// the rest in a temporary file.
type sharedStrings struct {
	ends []uint32
	mem  []byte
	file *os.File
	fw   *bufio.Writer
	buf  []byte
}

// sstMemBytes is how much shared-string text is kept in memory.
const sstMemBytes = 16 << 20

func (s *sharedStrings) add(b []byte) error {
	total := uint64(len(b))
	if len(s.ends) > 0 {
		total += uint64(s.ends[len(s.ends)-1])
	}
	if total > 1<<32-1 {
		return fmt.Errorf("shared strings over 4 GiB: %w", ErrInvalidManifest)
	}
	switch {
	case s.file == nil && len(s.mem)+len(b) <= sstMemBytes:
		s.mem = append(s.mem, b...)
	default:
		if s.file == nil {
			f, err := os.CreateTemp("", "pictor-manifest-sst-*")
			if err != nil {
				return fmt.Errorf("spill shared strings: %w", err)
			}
			s.file, s.fw = f, bufio.NewWriterSize(f, 64<<10)
		}
		if _, err := s.fw.Write(b); err != nil {
			return fmt.Errorf("spill shared strings: %w", err)
		}
	}
	s.ends = append(s.ends, uint32(total))
	return nil
}

// done flushes the spilled text so that get can read it.
func (s *sharedStrings) done() error {
	if s.fw != nil {
		if err := s.fw.Flush(); err != nil {
			return fmt.Errorf("spill shared strings: %w", err)
		}
	}
	return nil
}

// get returns string i, or ok false when there is no such string.
func (s *sharedStrings) get(i int) (string, bool, error) {
	if i < 0 || i >= len(s.ends) {
		return "", false, nil
	}
	var start uint32
	if i > 0 {
		start = s.ends[i-1]
	}
	end := s.ends[i]
	if int(end) <= len(s.mem) { // strings added before the spill
		return string(s.mem[start:end]), true, nil
	}
	n := int(end - start)
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	if _, err := s.file.ReadAt(s.buf[:n], int64(start)-int64(len(s.mem))); err != nil {
		return "", false, fmt.Errorf("read spilled shared strings: %w", err)
	}
	return string(s.buf[:n]), true, nil
}

func (s *sharedStrings) close() {
	if s.file != nil {
		_ = s.file.Close()
		_ = os.Remove(s.file.Name())
	}
}

// readSharedStrings streams the shared-string table into memory and a
// temporary file, at most lim.MaxSharedStrings strings of at most
// lim.MaxCellBytes each.
func readSharedStrings(p *xmlPart, lim Limits, sst *sharedStrings) error {
	tr := textReader{max: lim.MaxCellBytes}
	inSI := false
	for {
		tok, err := p.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if !inSI {
			if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "si" {
				if len(sst.ends) >= lim.MaxSharedStrings {
					return limitErr("MaxSharedStrings", p.name, "more than %d shared strings", lim.MaxSharedStrings)
				}
				inSI = true
				tr.reset()
			}
			continue
		}
		if ee, ok := tok.(xml.EndElement); ok && ee.Name.Local == "si" && tr.inT == 0 {
			inSI = false
			if err := sst.add(unescapeBSTR(tr.buf)); err != nil {
				return err
			}
			continue
		}
		tr.token(tok)
		if tr.tooLarge {
			return limitErr("MaxCellBytes", p.name, "shared string %d larger than %d bytes", len(sst.ends), lim.MaxCellBytes)
		}
	}
	return sst.done()
}

// unescapeBSTR decodes the _xHHHH_ escapes Excel writes for characters
// XML cannot hold (_x005F_ is a literal underscore).
func unescapeBSTR(b []byte) []byte {
	i := strings.Index(string(b), "_x")
	if i < 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '_' && i+6 < len(b) && b[i+1] == 'x' && b[i+6] == '_' {
			if v, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16); err == nil {
				out = utf8.AppendRune(out, rune(v))
				i += 6
				continue
			}
		}
		out = append(out, b[i])
	}
	return out
}

// Kinds of number format: how a numeric cell is shown.
const (
	fmtNumber   uint8 = iota // General and every format not below
	fmtDate                  // 2006-01-02
	fmtTime                  // 15:04:05
	fmtDateTime              // 2006-01-02 15:04:05
)

// xlsxMaxFormats bounds the custom number formats and the cell formats read
// from the styles part; Excel allows 64,000 cell formats.
const xlsxMaxFormats = 65536

// readStyles reads the kind of number format of each cell format
// (<cellXfs>) and stops there; the rest of the styles part is not read.
func readStyles(p *xmlPart) ([]uint8, error) {
	custom := map[int]uint8{}
	var kinds []uint8
	in := "" // "numFmts" or "cellXfs"
	for {
		tok, err := p.next()
		if err == io.EOF {
			return kinds, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Local == "numFmts" || t.Name.Local == "cellXfs":
				in = t.Name.Local
			case in == "numFmts" && t.Name.Local == "numFmt" && p.depth == 3:
				if len(custom) >= xlsxMaxFormats {
					return nil, fmt.Errorf("%s: more than %d number formats: %w", p.name, xlsxMaxFormats, ErrInvalidManifest)
				}
				if id, err := strconv.Atoi(attr(t, "numFmtId")); err == nil {
					custom[id] = formatKind(attr(t, "formatCode"))
				}
			case in == "cellXfs" && t.Name.Local == "xf" && p.depth == 3:
				if len(kinds) >= xlsxMaxFormats {
					return nil, fmt.Errorf("%s: more than %d cell formats: %w", p.name, xlsxMaxFormats, ErrInvalidManifest)
				}
				id, _ := strconv.Atoi(attr(t, "numFmtId"))
				kind, ok := custom[id]
				if !ok {
					kind = builtinKind(id)
				}
				kinds = append(kinds, kind)
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "numFmts":
				in = ""
			case "cellXfs":
				return kinds, nil
			}
		}
	}
}

// builtinKind is the kind of a built-in number format.
func builtinKind(id int) uint8 {
	switch {
	case id >= 14 && id <= 17, id >= 27 && id <= 31, id >= 34 && id <= 36, id >= 50 && id <= 58:
		return fmtDate
	case id >= 18 && id <= 21, id == 32, id == 33, id == 45, id == 47:
		return fmtTime
	case id == 22:
		return fmtDateTime
	}
	return fmtNumber
}

// formatKind classifies a custom number format code by its first section:
// y or d make a date, h or s a time, m a month unless there is a time.
// Quoted text, escaped characters, [colours] and [$currency] are skipped.
func formatKind(code string) uint8 {
	var date, tm, month bool
	lower := strings.ToLower(code)
loop:
	for i := 0; i < len(lower); i++ {
		switch c := lower[i]; c {
		case '"':
			j := strings.IndexByte(lower[i+1:], '"')
			if j < 0 {
				break loop
			}
			i += j + 1
		case '\\', '_', '*':
			i++
		case '[':
			j := strings.IndexByte(lower[i:], ']')
			if j < 0 {
				break loop
			}
			if inner := strings.Trim(lower[i+1:i+j], "hms"); inner == "" && j > 1 {
				tm = true // elapsed time: [h], [mm], [ss]
			}
			i += j
		case ';':
			break loop
		case 'a':
			if strings.HasPrefix(lower[i:], "am/pm") {
				tm = true
				i += 4
			} else if strings.HasPrefix(lower[i:], "a/p") {
				tm = true
				i += 2
			}
		case 'y', 'd':
			date = true
		case 'h', 's':
			tm = true
		case 'm':
			month = true
		}
	}
	if month && !tm {
		date = true
	}
	switch {
	case date && tm:
		return fmtDateTime
	case date:
		return fmtDate
	case tm:
		return fmtTime
	}
	return fmtNumber
}
