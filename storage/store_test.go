package storage_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"iter"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pictor/pictor/internal/testenv"
	"github.com/pictor/pictor/storage"
)

// store is what both storage.Local and storage.S3 offer; the behaviour table
// below runs against each.
type store interface {
	EnsureBucket(ctx context.Context, bucket string) error
	Put(ctx context.Context, bucket, key string, data []byte, opts storage.PutOptions) error
	Get(ctx context.Context, bucket, key string) (io.ReadCloser, storage.ObjectInfo, error)
	Stat(ctx context.Context, bucket, key string) (storage.ObjectInfo, error)
	Delete(ctx context.Context, bucket, key string) error
	List(ctx context.Context, bucket, prefix string) iter.Seq2[storage.ObjectInfo, error]
	Ping(ctx context.Context) error
}

var (
	_ store = (*storage.Local)(nil)
	_ store = (*storage.S3)(nil)
)

// fixture is a store with an existing, empty bucket.
type fixture struct {
	store  store
	bucket string
	// etag is the store's ETag of a content: S3's MD5, the local store's SHA-256.
	etag func([]byte) string
}

// stores returns a constructor for each store kind. S3 runs against the
// shared MinIO server of testenv.S3.
func stores() map[string]func(t *testing.T) fixture {
	return map[string]func(t *testing.T) fixture{
		"local": func(t *testing.T) fixture {
			t.Helper()
			cfg := storage.DefaultLocalConfig()
			cfg.Dir = t.TempDir()
			l, err := storage.NewLocal(cfg)
			if err != nil {
				t.Fatalf("NewLocal: %v", err)
			}
			f := newFixture(t, l, "local")
			f.etag = sha256hex
			return f
		},
		"s3": func(t *testing.T) fixture {
			t.Helper()
			env := testenv.S3(t)
			cfg := storage.DefaultS3Config()
			cfg.Endpoint, cfg.AccessKey, cfg.SecretKey = env.Endpoint, env.AccessKey, env.SecretKey
			s, err := storage.NewS3(cfg)
			if err != nil {
				t.Fatalf("NewS3: %v", err)
			}
			f := newFixture(t, s, "s3")
			f.etag = md5hex
			return f
		},
	}
}

func newFixture(t *testing.T, s store, prefix string) fixture {
	t.Helper()
	bucket := testenv.Bucket(t, prefix)
	if err := s.EnsureBucket(context.Background(), bucket); err != nil {
		t.Fatalf("EnsureBucket(%s): %v", bucket, err)
	}
	return fixture{store: s, bucket: bucket}
}

func md5hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func put(t *testing.T, f fixture, key string, data []byte, opts storage.PutOptions) {
	t.Helper()
	if err := f.store.Put(context.Background(), f.bucket, key, data, opts); err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
}

func get(t *testing.T, f fixture, key string) ([]byte, storage.ObjectInfo) {
	t.Helper()
	rc, info, err := f.store.Get(context.Background(), f.bucket, key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b, info
}

func listKeys(t *testing.T, f fixture, prefix string) []string {
	t.Helper()
	var keys []string
	for info, err := range f.store.List(context.Background(), f.bucket, prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		keys = append(keys, info.Key)
	}
	slices.Sort(keys)
	return keys
}

func checkInfo(t *testing.T, f fixture, what string, got storage.ObjectInfo, key string, data []byte, ct string, meta map[string]string) {
	t.Helper()
	if got.Bucket != f.bucket || got.Key != key {
		t.Errorf("%s: got bucket/key %s/%s, want %s/%s", what, got.Bucket, got.Key, f.bucket, key)
	}
	if got.Size != int64(len(data)) {
		t.Errorf("%s: got size %d, want %d", what, got.Size, len(data))
	}
	if got.ContentType != ct {
		t.Errorf("%s: got content type %q, want %q", what, got.ContentType, ct)
	}
	if got.ETag != f.etag(data) {
		t.Errorf("%s: got etag %q, want %q", what, got.ETag, f.etag(data))
	}
	if !maps.Equal(got.Meta, meta) {
		t.Errorf("%s: got meta %v, want %v", what, got.Meta, meta)
	}
	if got.Modified.IsZero() {
		t.Errorf("%s: got zero Modified, want a time", what)
	}
}

// TestStoreBehaviour runs one table of behaviours against both stores.
func TestStoreBehaviour(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, f fixture)
	}{
		{"put get stat round trip with meta", func(t *testing.T, f fixture) {
			key := "sha256/ab/abcdef0123"
			data := []byte("\x89PNG not really a png \x00\xff")
			meta := map[string]string{"width": "640", "height": "480", "recipe-hash": "r-1", "note": "a b:c/d=e"}
			put(t, f, key, data, storage.PutOptions{ContentType: "image/png", Meta: meta})
			b, info := get(t, f, key)
			if !bytes.Equal(b, data) {
				t.Errorf("Get: got %q, want %q", b, data)
			}
			checkInfo(t, f, "Get", info, key, data, "image/png", meta)
			st, err := f.store.Stat(ctx, f.bucket, key)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			checkInfo(t, f, "Stat", st, key, data, "image/png", meta)
		}},
		{"default content type and no meta", func(t *testing.T, f fixture) {
			put(t, f, "plain", []byte("x"), storage.PutOptions{})
			st, err := f.store.Stat(ctx, f.bucket, "plain")
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			checkInfo(t, f, "Stat", st, "plain", []byte("x"), storage.DefaultContentType, nil)
		}},
		{"empty object", func(t *testing.T, f fixture) {
			put(t, f, "empty/object", nil, storage.PutOptions{ContentType: "text/plain"})
			b, info := get(t, f, "empty/object")
			if len(b) != 0 {
				t.Errorf("Get: got %d bytes, want 0", len(b))
			}
			checkInfo(t, f, "Get", info, "empty/object", nil, "text/plain", nil)
		}},
		{"not found", func(t *testing.T, f fixture) {
			missing := testenv.Bucket(t, "missing")
			if _, _, err := f.store.Get(ctx, f.bucket, "no/such/key"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Get missing key: got %v, want ErrNotFound", err)
			}
			if _, err := f.store.Stat(ctx, f.bucket, "no/such/key"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Stat missing key: got %v, want ErrNotFound", err)
			}
			if _, err := f.store.Stat(ctx, missing, "k"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Stat in missing bucket: got %v, want ErrNotFound", err)
			}
			if _, _, err := f.store.Get(ctx, missing, "k"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Get in missing bucket: got %v, want ErrNotFound", err)
			}
			if err := f.store.Put(ctx, missing, "k", []byte("x"), storage.PutOptions{}); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Put in missing bucket: got %v, want ErrNotFound", err)
			}
			var listErr error
			for _, err := range f.store.List(ctx, missing, "") {
				listErr = err
			}
			if !errors.Is(listErr, storage.ErrNotFound) {
				t.Errorf("List missing bucket: got %v, want ErrNotFound", listErr)
			}
		}},
		{"not found is not unavailable", func(t *testing.T, f fixture) {
			_, err := f.store.Stat(ctx, f.bucket, "nope")
			if errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("Stat missing key: got %v, want no ErrUnavailable", err)
			}
		}},
		{"delete is idempotent", func(t *testing.T, f fixture) {
			put(t, f, "del/me", []byte("x"), storage.PutOptions{Meta: map[string]string{"a": "b"}})
			for i := range 2 {
				if err := f.store.Delete(ctx, f.bucket, "del/me"); err != nil {
					t.Fatalf("Delete #%d: got %v, want nil", i+1, err)
				}
			}
			if _, err := f.store.Stat(ctx, f.bucket, "del/me"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Stat after Delete: got %v, want ErrNotFound", err)
			}
			if err := f.store.Delete(ctx, f.bucket, "never/was"); err != nil {
				t.Errorf("Delete never written: got %v, want nil", err)
			}
			if err := f.store.Delete(ctx, testenv.Bucket(t, "missing"), "k"); err != nil {
				t.Errorf("Delete in missing bucket: got %v, want nil", err)
			}
			if got := listKeys(t, f, ""); len(got) != 0 {
				t.Errorf("List after Delete: got %v, want none", got)
			}
		}},
		{"list by prefix", func(t *testing.T, f fixture) {
			keys := []string{"sha256/ab/ab01", "sha256/ab/ab02", "sha256/ac/ac03", "sha256/abc", "other/x/y/z"}
			for _, k := range keys {
				put(t, f, k, []byte(k), storage.PutOptions{ContentType: "image/webp", Meta: map[string]string{"k": "v"}})
			}
			cases := []struct {
				prefix string
				want   []string
			}{
				{"", []string{"other/x/y/z", "sha256/ab/ab01", "sha256/ab/ab02", "sha256/abc", "sha256/ac/ac03"}},
				{"sha256/ab/", []string{"sha256/ab/ab01", "sha256/ab/ab02"}},
				{"sha256/ab", []string{"sha256/ab/ab01", "sha256/ab/ab02", "sha256/abc"}},
				{"sha256/a", []string{"sha256/ab/ab01", "sha256/ab/ab02", "sha256/abc", "sha256/ac/ac03"}},
				{"sha256/ab/ab0", []string{"sha256/ab/ab01", "sha256/ab/ab02"}},
				{"other/", []string{"other/x/y/z"}},
				{"nothing/", nil},
				{"sha256/abc/", nil},
			}
			for _, c := range cases {
				if got := listKeys(t, f, c.prefix); !slices.Equal(got, c.want) {
					t.Errorf("List(%q): got %v, want %v", c.prefix, got, c.want)
				}
			}
			for info, err := range f.store.List(ctx, f.bucket, "other/") {
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				if info.Bucket != f.bucket || info.Size != int64(len("other/x/y/z")) {
					t.Errorf("List info: got %s size %d, want %s size %d", info.Bucket, info.Size, f.bucket, len("other/x/y/z"))
				}
				if info.ContentType != "image/webp" || info.Meta["k"] != "v" || info.ETag != f.etag([]byte("other/x/y/z")) {
					t.Errorf("List info: got type %q meta %v etag %q, want image/webp, k=v and the etag of the content", info.ContentType, info.Meta, info.ETag)
				}
			}
			n := 0
			for _, err := range f.store.List(ctx, f.bucket, "") {
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				n++
				if n == 2 {
					break
				}
			}
			if n != 2 {
				t.Errorf("List with break: got %d items, want 2", n)
			}
		}},
		{"list honours a cancelled context", func(t *testing.T, f fixture) {
			put(t, f, "c/1", []byte("1"), storage.PutOptions{})
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			var last error
			for _, err := range f.store.List(cctx, f.bucket, "") {
				last = err
			}
			if !errors.Is(last, context.Canceled) {
				t.Errorf("List with cancelled ctx: got %v, want context.Canceled", last)
			}
		}},
		{"overwrite same key", func(t *testing.T, f fixture) {
			key := "sha256/cd/cdef"
			first := []byte("first version")
			put(t, f, key, first, storage.PutOptions{ContentType: "image/jpeg", Meta: map[string]string{"old": "1"}})
			put(t, f, key, first, storage.PutOptions{ContentType: "image/jpeg", Meta: map[string]string{"old": "1"}})
			b, info := get(t, f, key)
			if !bytes.Equal(b, first) {
				t.Errorf("Get after identical rewrite: got %q, want %q", b, first)
			}
			checkInfo(t, f, "Get after identical rewrite", info, key, first, "image/jpeg", map[string]string{"old": "1"})
			second := []byte("second, longer version")
			put(t, f, key, second, storage.PutOptions{ContentType: "image/png", Meta: map[string]string{"new": "2"}})
			b, info = get(t, f, key)
			if !bytes.Equal(b, second) {
				t.Errorf("Get after overwrite: got %q, want %q", b, second)
			}
			checkInfo(t, f, "Get after overwrite", info, key, second, "image/png", map[string]string{"new": "2"})
			if got := listKeys(t, f, ""); !slices.Equal(got, []string{key}) {
				t.Errorf("List after overwrite: got %v, want [%s]", got, key)
			}
		}},
		{"invalid keys", func(t *testing.T, f fixture) {
			bad := []string{"", "/abs", "a/../b", "..", "a/./b", "a//b", "trail/", "nul\x00byte",
				"ctl\x01", ".hidden", "a/.tmp-1", "x.meta.json", strings.Repeat("k", storage.MaxKeyLen+1), "bad\xffutf8",
				strings.Repeat("s", storage.MaxSegmentLen+1)}
			for _, key := range bad {
				if err := f.store.Put(ctx, f.bucket, key, []byte("x"), storage.PutOptions{}); !errors.Is(err, storage.ErrInvalidKey) {
					t.Errorf("Put(%.40q): got %v, want ErrInvalidKey", key, err)
				}
				if _, _, err := f.store.Get(ctx, f.bucket, key); !errors.Is(err, storage.ErrInvalidKey) {
					t.Errorf("Get(%q): got %v, want ErrInvalidKey", key, err)
				}
				if _, err := f.store.Stat(ctx, f.bucket, key); !errors.Is(err, storage.ErrInvalidKey) {
					t.Errorf("Stat(%q): got %v, want ErrInvalidKey", key, err)
				}
				if err := f.store.Delete(ctx, f.bucket, key); !errors.Is(err, storage.ErrInvalidKey) {
					t.Errorf("Delete(%q): got %v, want ErrInvalidKey", key, err)
				}
			}
			// The longest valid key: 1024 bytes in segments of the longest valid length.
			seg := strings.Repeat("k", storage.MaxSegmentLen)
			longest := strings.Repeat(seg+"/", 5)
			longest += strings.Repeat("z", storage.MaxKeyLen-len(longest))
			put(t, f, longest, []byte("ok"), storage.PutOptions{})
			if b, _ := get(t, f, longest); string(b) != "ok" {
				t.Errorf("Get(longest): got %q, want ok", b)
			}
			for _, prefix := range []string{"/", "../", "a/../", "x\x00"} {
				var last error
				for _, err := range f.store.List(ctx, f.bucket, prefix) {
					last = err
				}
				if !errors.Is(last, storage.ErrInvalidKey) {
					t.Errorf("List(%q): got %v, want ErrInvalidKey", prefix, last)
				}
			}
		}},
		{"invalid bucket and meta", func(t *testing.T, f fixture) {
			for _, b := range []string{"", "ab", "Upper", "has_underscore", "../up", "a/b", "-lead", "dots..x"} {
				if err := f.store.EnsureBucket(ctx, b); !errors.Is(err, storage.ErrInvalidBucket) {
					t.Errorf("EnsureBucket(%q): got %v, want ErrInvalidBucket", b, err)
				}
				if err := f.store.Put(ctx, b, "k", nil, storage.PutOptions{}); !errors.Is(err, storage.ErrInvalidBucket) {
					t.Errorf("Put in bucket %q: got %v, want ErrInvalidBucket", b, err)
				}
			}
			for _, meta := range []map[string]string{{"Upper": "x"}, {"content-type": "x"}, {"x-amz-acl": "x"}, {"k": "é"}, {"k": "a\nb"}} {
				if err := f.store.Put(ctx, f.bucket, "k", nil, storage.PutOptions{Meta: meta}); !errors.Is(err, storage.ErrInvalidMeta) {
					t.Errorf("Put with meta %v: got %v, want ErrInvalidMeta", meta, err)
				}
			}
			if _, err := f.store.Stat(ctx, f.bucket, "k"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Stat after rejected Puts: got %v, want ErrNotFound", err)
			}
		}},
		{"ensure bucket twice and ping", func(t *testing.T, f fixture) {
			if err := f.store.EnsureBucket(ctx, f.bucket); err != nil {
				t.Errorf("EnsureBucket again: got %v, want nil", err)
			}
			if err := f.store.Ping(ctx); err != nil {
				t.Errorf("Ping: got %v, want nil", err)
			}
		}},
	}
	for kind, newStore := range stores() {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					tt.run(t, newStore(t))
				})
			}
		})
	}
}
