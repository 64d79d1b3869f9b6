package manifest

import (
	"archive/zip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

const (
	// xlsxSmallPartBytes is the largest uncompressed workbook, relationship
	// or styles part: honest ones are a few KiB to a few MiB.
	xlsxSmallPartBytes = 16 << 20
	// xlsxRatioFloor is the size over which a part's compression ratio is
	// checked: small parts of repeated markup compress very well and cost
	// nothing.
	xlsxRatioFloor = 1 << 20
	// xlsxDirEntryBytes is the room allowed for each zip directory entry
	// (46 bytes and a name) when sizing the directory before archive/zip
	// parses it, plus xlsxDirSlack for the end records and a comment.
	xlsxDirEntryBytes = 512
	xlsxDirSlack      = 66 << 10
)

// xlsxZip is a workbook's zip, its directory checked against the limits.
type xlsxZip struct {
	zr    *zip.Reader
	parts map[string]*zip.File // by lower-case name with forward slashes
	lim   Limits
}

// openXLSXZip checks the zip directory of the size bytes in r before
// archive/zip reads it (archive/zip keeps every entry in memory, and reads
// entries up to the end of the file whatever the directory end claims), then
// opens it.
func openXLSXZip(r io.ReaderAt, size int64, lim Limits) (*xlsxZip, error) {
	if err := checkZipDirectory(r, size, lim); err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("not an xlsx workbook: %v: %w", err, ErrInvalidManifest)
	}
	if len(zr.File) > lim.MaxXLSXParts {
		return nil, limitErr("MaxXLSXParts", "", "workbook has %d parts, more than %d", len(zr.File), lim.MaxXLSXParts)
	}
	z := &xlsxZip{zr: zr, parts: make(map[string]*zip.File, len(zr.File)), lim: lim}
	for _, f := range zr.File {
		name := strings.ToLower(strings.TrimPrefix(strings.ReplaceAll(f.Name, "\\", "/"), "/"))
		if _, dup := z.parts[name]; !dup {
			z.parts[name] = f
		}
	}
	return z, nil
}

// checkZipDirectory finds the zip's directory as archive/zip does and
// refuses one that claims, or has room for, more than lim.MaxXLSXParts
// entries.
func checkZipDirectory(r io.ReaderAt, size int64, lim Limits) error {
	records, start, err := zipDirectory(r, size)
	if err != nil {
		return fmt.Errorf("not an xlsx workbook: %v: %w", err, ErrInvalidManifest)
	}
	if records > uint64(lim.MaxXLSXParts) {
		return limitErr("MaxXLSXParts", "", "workbook directory lists %d parts, more than %d", records, lim.MaxXLSXParts)
	}
	if room := size - start; room > int64(lim.MaxXLSXParts)*xlsxDirEntryBytes+xlsxDirSlack {
		return limitErr("MaxXLSXParts", "", "workbook directory of %d bytes has room for more than %d parts", room, lim.MaxXLSXParts)
	}
	return nil
}

// zipDirectory returns the number of entries the directory end claims and
// the earliest offset archive/zip may start reading entries from; it
// follows archive/zip's readDirectoryEnd.
func zipDirectory(r io.ReaderAt, size int64) (records uint64, start int64, err error) {
	const endLen, loc64Len, end64Len = 22, 20, 56
	n := min(size, 65*1024)
	if n < endLen {
		return 0, 0, zip.ErrFormat
	}
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, size-n); err != nil && err != io.EOF {
		return 0, 0, err
	}
	p := -1
	for i := len(buf) - endLen; i >= 0; i-- {
		if buf[i] == 'P' && buf[i+1] == 'K' && buf[i+2] == 5 && buf[i+3] == 6 {
			if int(binary.LittleEndian.Uint16(buf[i+20:]))+endLen+i > len(buf) {
				return 0, 0, zip.ErrFormat
			}
			p = i
			break
		}
	}
	if p < 0 {
		return 0, 0, zip.ErrFormat
	}
	endOffset := size - n + int64(p)
	b := buf[p:]
	records = uint64(binary.LittleEndian.Uint16(b[10:]))
	dirSize := uint64(binary.LittleEndian.Uint32(b[12:]))
	dirOffset := uint64(binary.LittleEndian.Uint32(b[16:]))
	if records == 0xffff || dirSize == 0xffff || dirOffset == 0xffffffff {
		if endOffset >= loc64Len {
			loc := make([]byte, loc64Len)
			if _, err := r.ReadAt(loc, endOffset-loc64Len); err != nil && err != io.EOF {
				return 0, 0, err
			}
			if string(loc[:4]) == "PK\x06\x07" && binary.LittleEndian.Uint32(loc[4:]) == 0 && binary.LittleEndian.Uint32(loc[16:]) == 1 {
				p64 := binary.LittleEndian.Uint64(loc[8:])
				if p64 > uint64(size) {
					return 0, 0, zip.ErrFormat
				}
				end64 := make([]byte, end64Len)
				if _, err := r.ReadAt(end64, int64(p64)); err != nil && err != io.EOF {
					return 0, 0, err
				}
				if string(end64[:4]) != "PK\x06\x06" {
					return 0, 0, zip.ErrFormat
				}
				endOffset = int64(p64)
				records = binary.LittleEndian.Uint64(end64[32:])
				dirSize = binary.LittleEndian.Uint64(end64[40:])
				dirOffset = binary.LittleEndian.Uint64(end64[48:])
			}
		}
	}
	if dirSize > uint64(size) || dirOffset > uint64(size) {
		return 0, 0, zip.ErrFormat
	}
	// archive/zip starts at endOffset-dirSize, or at dirOffset when that
	// holds a directory entry: take the earlier.
	start = max(min(endOffset-int64(dirSize), int64(dirOffset)), 0)
	return records, start, nil
}

// part returns the named part (a path inside the zip, case-insensitive),
// or nil when there is none.
func (z *xlsxZip) part(name string) *zip.File {
	return z.parts[strings.ToLower(strings.TrimPrefix(name, "/"))]
}

// open checks the part's declared size against maxBytes (the limit named
// limit) and its compression ratio against MaxXLSXRatio, then streams it
// through encoding/xml. archive/zip fails a part that inflates past its
// declared size, so the declared size is a bound.
func (z *xlsxZip) open(ctx context.Context, f *zip.File, maxBytes int64, limit string) (*xmlPart, error) {
	size := f.UncompressedSize64
	if size > uint64(maxBytes) {
		return nil, limitErr(limit, f.Name, "part of %d bytes uncompressed, more than %d", size, maxBytes)
	}
	if size > xlsxRatioFloor && size/max(f.CompressedSize64, 1) > uint64(z.lim.MaxXLSXRatio) {
		return nil, limitErr("MaxXLSXRatio", f.Name, "part compressed %d:1 (%d bytes to %d), more than %d:1",
			size/max(f.CompressedSize64, 1), size, f.CompressedSize64, z.lim.MaxXLSXRatio)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %w", f.Name, err, ErrInvalidManifest)
	}
	return newXMLPart(ctx, f.Name, rc, z.lim), nil
}

// resolve returns the zip path of a relationship target, relative to the
// directory of the part whose relationships name it.
func resolve(from, target string) string {
	if strings.HasPrefix(target, "/") {
		return path.Clean(target)[1:]
	}
	return strings.TrimPrefix(path.Join(path.Dir(from), target), "/")
}

// relsOf is the relationships part of a part: xl/workbook.xml ->
// xl/_rels/workbook.xml.rels.
func relsOf(name string) string {
	dir, base := path.Split(name)
	return dir + "_rels/" + base + ".rels"
}

// xlsxFile returns the workbook as a file to read at offsets and its size:
// r itself when r is a regular *os.File, otherwise a temporary copy of r
// (removed by the returned cleanup).
func xlsxFile(ctx context.Context, r io.Reader, lim Limits) (*os.File, int64, func(), error) {
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			if fi.Size() > lim.MaxXLSXBytes {
				return nil, 0, nil, limitErr("MaxXLSXBytes", "", "workbook of %d bytes is larger than %d", fi.Size(), lim.MaxXLSXBytes)
			}
			return f, fi.Size(), func() {}, nil
		}
	}
	tmp, err := os.CreateTemp("", "pictor-manifest-*.xlsx")
	if err != nil {
		return nil, 0, nil, fmt.Errorf("spill workbook: %w", err)
	}
	cleanup := func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}
	n, err := io.Copy(tmp, io.LimitReader(ctxReader{ctx, r}, lim.MaxXLSXBytes+1))
	if err != nil {
		cleanup()
		if ctx.Err() != nil {
			return nil, 0, nil, ctx.Err()
		}
		return nil, 0, nil, fmt.Errorf("spill workbook: %w", err)
	}
	if n > lim.MaxXLSXBytes {
		cleanup()
		return nil, 0, nil, limitErr("MaxXLSXBytes", "", "workbook is larger than %d bytes", lim.MaxXLSXBytes)
	}
	return tmp, n, cleanup, nil
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
