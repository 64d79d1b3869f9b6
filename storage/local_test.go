package storage_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pictor/pictor/storage"
)

func newLocal(t *testing.T) (*storage.Local, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := storage.NewLocal(storage.LocalConfig{Dir: dir})
	if err != nil {
		t.Fatalf("NewLocal: %v", err)
	}
	if err := l.EnsureBucket(context.Background(), "originals"); err != nil {
		t.Fatalf("EnsureBucket: %v", err)
	}
	return l, dir
}

// files lists every regular file under dir, relative, with '/' separators.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestLocalLayoutOnDisk(t *testing.T) {
	t.Parallel()
	l, dir := newLocal(t)
	ctx := context.Background()
	key := "sha256/ab/abcdef"
	if err := l.Put(ctx, "originals", key, []byte("data"), storage.PutOptions{ContentType: "image/png"}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	want := []string{"originals/sha256/ab/abcdef", "originals/sha256/ab/abcdef.meta.json"}
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Errorf("files: got %v, want %v (no temporary files left)", got, want)
	}
	b, err := os.ReadFile(filepath.Join(dir, "originals", "sha256", "ab", "abcdef"))
	if err != nil || string(b) != "data" {
		t.Errorf("data file: got %q, %v, want %q", b, err, "data")
	}
}

func TestLocalFileWithoutSidecar(t *testing.T) {
	t.Parallel()
	l, dir := newLocal(t)
	if err := os.WriteFile(filepath.Join(dir, "originals", "copied"), []byte("by hand"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := l.Stat(context.Background(), "originals", "copied")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Size != 7 || info.ContentType != storage.DefaultContentType || info.Meta != nil {
		t.Errorf("Stat: got size %d type %q meta %v, want 7 %q nil", info.Size, info.ContentType, info.Meta, storage.DefaultContentType)
	}
}

func TestLocalIgnoresTempAndSidecarFilesInList(t *testing.T) {
	t.Parallel()
	l, dir := newLocal(t)
	ctx := context.Background()
	if err := l.Put(ctx, "originals", "a/b", []byte("1"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	// Debris of a crashed write and an orphan sidecar.
	for _, name := range []string{"a/.tmp-123", "a/gone.meta.json", ".tmp-9"} {
		if err := os.WriteFile(filepath.Join(dir, "originals", filepath.FromSlash(name)), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	for info, err := range l.List(ctx, "originals", "") {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		keys = append(keys, info.Key)
	}
	if !slices.Equal(keys, []string{"a/b"}) {
		t.Errorf("List: got %v, want [a/b]", keys)
	}
	if _, err := l.Stat(ctx, "originals", "a/gone"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat of orphan sidecar: got %v, want ErrNotFound", err)
	}
}

func TestLocalDirectoryIsNotAnObject(t *testing.T) {
	t.Parallel()
	l, _ := newLocal(t)
	ctx := context.Background()
	if err := l.Put(ctx, "originals", "dir/obj", []byte("1"), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Stat(ctx, "originals", "dir"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat(dir): got %v, want ErrNotFound", err)
	}
	if _, _, err := l.Get(ctx, "originals", "dir"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get(dir): got %v, want ErrNotFound", err)
	}
	if _, err := l.Stat(ctx, "originals", "dir/obj/below"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat(below a file): got %v, want ErrNotFound", err)
	}
	if err := l.Delete(ctx, "originals", "dir"); err != nil {
		t.Errorf("Delete(dir): got %v, want nil", err)
	}
	if _, err := l.Stat(ctx, "originals", "dir/obj"); err != nil {
		t.Errorf("Stat(dir/obj) after Delete(dir): got %v, want nil", err)
	}
}

func TestLocalConcurrentPutsOfSameContent(t *testing.T) {
	t.Parallel()
	l, dir := newLocal(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := l.Put(ctx, "originals", "same/key", []byte("same bytes"), storage.PutOptions{Meta: map[string]string{"w": "1"}}); err != nil {
				t.Errorf("Put: %v", err)
			}
		})
	}
	wg.Wait()
	info, err := l.Stat(ctx, "originals", "same/key")
	if err != nil || info.Size != 10 || info.Meta["w"] != "1" {
		t.Errorf("Stat: got %+v, %v, want size 10 and meta w=1", info, err)
	}
	for _, f := range files(t, dir) {
		if strings.Contains(f, ".tmp-") {
			t.Errorf("left temporary file %s", f)
		}
	}
}

func TestLocalPing(t *testing.T) {
	t.Parallel()
	l, dir := newLocal(t)
	if err := l.Ping(context.Background()); err != nil {
		t.Errorf("Ping: got %v, want nil", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := l.Ping(context.Background()); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping after removing dir: got %v, want ErrUnavailable", err)
	}
}

func TestLocalConfig(t *testing.T) {
	t.Parallel()
	if got := storage.DefaultLocalConfig().Dir; got != "./data/objects" {
		t.Errorf("default Dir: got %q, want ./data/objects", got)
	}
	if _, err := storage.NewLocal(storage.LocalConfig{}); err == nil {
		t.Errorf("NewLocal with empty Dir: got nil error, want one")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.NewLocal(storage.LocalConfig{Dir: file}); err == nil {
		t.Errorf("NewLocal on a file: got nil error, want one")
	}
}

// A caller that knows the content's SHA-256 (a content-addressed original) saves the
// store from hashing it again: what it gives is the ETag.
func TestLocalTakesAGivenSHA256AsETag(t *testing.T) {
	t.Parallel()
	l, _ := newLocal(t)
	ctx := context.Background()
	data := []byte("original bytes")
	given := strings.Repeat("ab", 32)
	if err := l.Put(ctx, "originals", "given", data, storage.PutOptions{SHA256: given}); err != nil {
		t.Fatal(err)
	}
	if err := l.Put(ctx, "originals", "hashed", data, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"given": given, "hashed": sha256hex(data)} {
		info, err := l.Stat(ctx, "originals", key)
		if err != nil {
			t.Fatal(err)
		}
		if info.ETag != want {
			t.Errorf("%s: got etag %q, want %q", key, info.ETag, want)
		}
	}
}
