package catalog_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/internal/testenv"
	"github.com/pictor/pictor/storage"
)

func TestMain(m *testing.M) {
	imaging.Startup(imaging.StartupConfig{}, slog.New(slog.DiscardHandler))
	code := m.Run()
	imaging.Shutdown()
	os.Exit(code)
}

// backend names one database + object store combination the catalog runs on.
type backend struct {
	name string
	open func(t *testing.T) (*db.DB, catalog.ObjectStore)
}

func backends() []backend {
	return []backend{
		{"sqlite+local", func(t *testing.T) (*db.DB, catalog.ObjectStore) {
			dir := t.TempDir()
			d, err := db.Open(context.Background(), db.Config{DataDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			st, err := storage.NewLocal(storage.LocalConfig{Dir: filepath.Join(dir, "objects")})
			if err != nil {
				t.Fatal(err)
			}
			return d, st
		}},
		{"postgres+minio", func(t *testing.T) (*db.DB, catalog.ObjectStore) {
			url := testenv.FreshPostgres(t)
			s3 := testenv.S3(t)
			dc := db.DefaultConfig()
			dc.URL = url
			d, err := db.Open(context.Background(), dc)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			st, err := storage.NewS3(s3Config(s3))
			if err != nil {
				t.Fatal(err)
			}
			return d, st
		}},
	}
}

// bundle is what setup gives a test.
type bundle struct {
	svc   *catalog.Service
	reg   *prometheus.Registry
	db    *db.DB
	store catalog.ObjectStore
	cfg   catalog.Config
}

func setup(t *testing.T, b backend) bundle {
	t.Helper()
	d, st := b.open(t)
	return setupWith(t, d, st)
}

func setupWith(t *testing.T, d *db.DB, st catalog.ObjectStore) bundle {
	t.Helper()
	fc := fetch.DefaultConfig()
	fc.AllowedNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	f, err := fetch.New(fc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := catalog.DefaultConfig()
	cfg.BucketOriginals = testenv.Bucket(t, "orig")
	cfg.BucketRenditions = testenv.Bucket(t, "rend")
	reg := prometheus.NewRegistry()
	svc, err := catalog.New(cfg, catalog.Deps{DB: d, Store: st, Fetcher: f, Gate: imaging.NewGate(2, 16), Registerer: reg, Links: testLinks{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return bundle{svc: svc, reg: reg, db: d, store: st, cfg: cfg}
}

// productJPEG draws a product-like shot: a coloured box on white, w x h.
func productJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{255, 255, 255, 255}
			if x > w/4 && x < 3*w/4 && y > h/4 && y < 3*h/4 {
				c = color.RGBA{uint8(40 + x*150/w), 90, uint8(200 - y*100/h), 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func smallPNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hugePNG is a valid PNG header claiming 20000x20000 with almost no data behind it.
func hugePNG() []byte {
	var b bytes.Buffer
	b.Write([]byte("\x89PNG\r\n\x1a\n"))
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 20000)
	binary.BigEndian.PutUint32(ihdr[4:], 20000)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

func s3Config(e testenv.S3Env) storage.S3Config {
	c := storage.DefaultS3Config()
	c.Endpoint, c.AccessKey, c.SecretKey = e.Endpoint, e.AccessKey, e.SecretKey
	return c
}

// testLinks stand in for the API's routes (catalog.Links) in the catalog's tests.
type testLinks struct{}

func (testLinks) RenditionContent(id string) string { return "test:/renditions/" + id }
func (testLinks) ImageContent(id string) string     { return "test:/images/" + id }
func (testLinks) ScenePreview(id string, v int64) string {
	return fmt.Sprintf("test:/scenes/%s/preview/%d", id, v)
}
