package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// LocalConfig configures a Local store.
type LocalConfig struct {
	// Dir is the root directory; each bucket is a directory below it.
	// Default "./data/objects".
	Dir string
}

// DefaultLocalConfig returns the defaults: Dir "./data/objects".
func DefaultLocalConfig() LocalConfig {
	return LocalConfig{Dir: "./data/objects"}
}

// Validate reports whether the configuration can be used.
func (c LocalConfig) Validate() error {
	if strings.TrimSpace(c.Dir) == "" {
		return errors.New("storage: local dir is empty")
	}
	return nil
}

// Local is an object store in a local directory, for the embedded default
// and for tests. Objects live at Dir/<bucket>/<key>, so the layout on disk is
// the same as the keys in S3; each has a sidecar Dir/<bucket>/<key>.meta.json
// with its content type, ETag and metadata. Writes are atomic and durable: data
// and sidecar are written to temporary files in the same directory, synced,
// renamed (sidecar first) and synced again, so a crash never leaves a key naming
// a file whose content did not reach the disk. The syncs are shared: concurrent
// Puts wait for one syncfs(2) of the store's file system together instead of
// three fsyncs each (a batch stores two objects per item from dozens of
// workers). Concurrent writes of different content to one key
// may pair one writer's data with the other's sidecar; keys are content
// addressed, so this does not arise in Pictor.
//
// A key cannot be both an object and the directory of other objects
// ("a/b" and "a/b/c"); writing the second fails.
type Local struct {
	dir   string
	syncs *groupSync
}

// NewLocal validates cfg, creates the root directory if needed and returns the store.
func NewLocal(cfg LocalConfig) (*Local, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("storage: local dir %s: %w", cfg.Dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: create local dir %s: %w", dir, err)
	}
	return &Local{dir: dir, syncs: &groupSync{sync: func() error { return syncFS(dir) }}}, nil
}

// Dir returns the absolute root directory of the store.
func (l *Local) Dir() string { return l.dir }

// sidecar is the JSON kept beside each object.
type sidecar struct {
	ContentType string            `json:"content_type"`
	ETag        string            `json:"etag"`
	Size        int64             `json:"size"`
	Meta        map[string]string `json:"meta,omitempty"`
}

func (l *Local) bucketDir(bucket string) string { return filepath.Join(l.dir, bucket) }

func (l *Local) objectPath(bucket, key string) string {
	return filepath.Join(l.dir, bucket, filepath.FromSlash(key))
}

// fsErr maps a file system error: missing files and paths through a
// non-directory become ErrNotFound, I/O trouble ErrUnavailable.
func fsErr(op, what string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%s %s: %w: %w", op, what, ErrNotFound, err)
	case errors.Is(err, syscall.EIO), errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EROFS),
		errors.Is(err, syscall.EDQUOT), errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s %s: %w: %w", op, what, ErrUnavailable, err)
	}
	return fmt.Errorf("%s %s: %w", op, what, err)
}

// checkBucket returns ErrNotFound when the bucket directory does not exist.
func (l *Local) checkBucket(op, bucket string) error {
	fi, err := os.Stat(l.bucketDir(bucket))
	if err != nil {
		return fsErr(op, "bucket "+bucket, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s bucket %s: not a directory: %w", op, bucket, ErrUnavailable)
	}
	return nil
}

// EnsureBucket creates the bucket's directory if it is missing.
func (l *Local) EnsureBucket(ctx context.Context, bucket string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidateBucket(bucket); err != nil {
		return err
	}
	if err := os.MkdirAll(l.bucketDir(bucket), 0o755); err != nil {
		return fsErr("ensure bucket", bucket, err)
	}
	return nil
}

// Put writes data under bucket/key atomically, replacing any object there.
// The bucket must exist (ErrNotFound otherwise).
func (l *Local) Put(ctx context.Context, bucket, key string, data []byte, opts PutOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validate(bucket, key); err != nil {
		return err
	}
	if err := ValidateMeta(opts.Meta); err != nil {
		return err
	}
	if err := l.checkBucket("put", bucket); err != nil {
		return err
	}
	path := l.objectPath(bucket, key)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fsErr("put", key, err)
	}
	etag := opts.SHA256
	if etag == "" {
		sum := sha256.Sum256(data)
		etag = hex.EncodeToString(sum[:])
	}
	sc := sidecar{
		ContentType: opts.ContentType,
		ETag:        etag,
		Size:        int64(len(data)),
		Meta:        copyMeta(opts.Meta),
	}
	if sc.ContentType == "" {
		sc.ContentType = DefaultContentType
	}
	scJSON, err := json.Marshal(sc)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}

	dataTmp, err := writeTemp(dir, data)
	if err != nil {
		return fsErr("put", key, err)
	}
	defer os.Remove(dataTmp) // no-op once renamed
	metaTmp, err := writeTemp(dir, scJSON)
	if err != nil {
		return fsErr("put", key, err)
	}
	defer os.Remove(metaTmp)
	// The contents are on disk before any name points at them...
	if err := l.syncs.Wait(); err != nil {
		return fsErr("put", key, err)
	}
	if err := os.Rename(metaTmp, path+metaSuffix); err != nil {
		return fsErr("put", key, err)
	}
	if err := os.Rename(dataTmp, path); err != nil {
		return fsErr("put", key, err)
	}
	// ...and the names are on disk before Put returns.
	if err := l.syncs.Wait(); err != nil {
		return fsErr("put", key, err)
	}
	return nil
}

// writeTemp writes b to a new hidden temporary file in dir, closes it and
// returns its path; the caller syncs.
func writeTemp(dir string, b []byte) (string, error) {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	direct, err := writeDirect(f, b)
	if !direct {
		_, err = f.Write(b)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// info builds the ObjectInfo of the object at path from the data file's
// FileInfo and its sidecar; an object without a sidecar (copied in by hand)
// gets DefaultContentType and no ETag.
func (l *Local) info(bucket, key, path string, fi fs.FileInfo) (ObjectInfo, error) {
	oi := ObjectInfo{
		Bucket:      bucket,
		Key:         key,
		Size:        fi.Size(),
		ContentType: DefaultContentType,
		Modified:    fi.ModTime(),
	}
	b, err := os.ReadFile(path + metaSuffix)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return oi, nil
	case err != nil:
		return ObjectInfo{}, fsErr("stat", key, err)
	}
	var sc sidecar
	if err := json.Unmarshal(b, &sc); err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: sidecar: %w", key, err)
	}
	if sc.ContentType != "" {
		oi.ContentType = sc.ContentType
	}
	oi.ETag = sc.ETag
	oi.Meta = sc.Meta
	return oi, nil
}

// Stat returns the object's info without reading its content.
func (l *Local) Stat(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, err
	}
	if err := validate(bucket, key); err != nil {
		return ObjectInfo{}, err
	}
	path := l.objectPath(bucket, key)
	fi, err := os.Stat(path)
	if err != nil {
		return ObjectInfo{}, fsErr("stat", key, err)
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, ErrNotFound)
	}
	return l.info(bucket, key, path, fi)
}

// Get opens the object for reading; the caller closes the reader.
func (l *Local) Get(ctx context.Context, bucket, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, ObjectInfo{}, err
	}
	if err := validate(bucket, key); err != nil {
		return nil, ObjectInfo{}, err
	}
	path := l.objectPath(bucket, key)
	f, err := os.Open(path)
	if err != nil {
		return nil, ObjectInfo{}, fsErr("get", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, ObjectInfo{}, fsErr("get", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	oi, err := l.info(bucket, key, path, fi)
	if err != nil {
		f.Close()
		return nil, ObjectInfo{}, err
	}
	return f, oi, nil
}

// Delete removes the object; a missing object or bucket is not an error.
// Emptied directories are left in place.
func (l *Local) Delete(ctx context.Context, bucket, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validate(bucket, key); err != nil {
		return err
	}
	path := l.objectPath(bucket, key)
	if fi, err := os.Lstat(path); err == nil && fi.IsDir() {
		return nil // a "directory" of other keys, not an object
	}
	for _, p := range []string{path, path + metaSuffix} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return fsErr("delete", key, err)
		}
	}
	return nil
}

// validatePrefix checks a List prefix: like a key, but it may be empty or end
// with '/', and its last segment may be partial.
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	k := strings.TrimSuffix(prefix, "/")
	if k == "" {
		return fmt.Errorf("prefix %q: %w", prefix, ErrInvalidKey)
	}
	if strings.HasSuffix(k, metaSuffix) {
		k += "x" // a partial segment may look like the sidecar suffix
	}
	if err := ValidateKey(k); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	return nil
}

// List yields every object whose key starts with prefix, with full info.
// The order is unspecified. A missing bucket yields one ErrNotFound error.
func (l *Local) List(ctx context.Context, bucket, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		if err := ValidateBucket(bucket); err != nil {
			yield(ObjectInfo{}, err)
			return
		}
		if err := validatePrefix(prefix); err != nil {
			yield(ObjectInfo{}, err)
			return
		}
		if err := l.checkBucket("list", bucket); err != nil {
			yield(ObjectInfo{}, err)
			return
		}
		base := l.bucketDir(bucket)
		root := base
		if i := strings.LastIndex(prefix, "/"); i >= 0 {
			root = filepath.Join(base, filepath.FromSlash(prefix[:i]))
		}
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // nothing under this prefix, or removed while we walk
				}
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if path == base {
				return nil
			}
			rel, err := filepath.Rel(base, path)
			if err != nil {
				return err
			}
			key := filepath.ToSlash(rel)
			name := d.Name()
			if d.IsDir() {
				if path != root && strings.HasPrefix(name, ".") {
					return filepath.SkipDir
				}
				if path != root && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasPrefix(name, ".") || strings.HasSuffix(name, metaSuffix) ||
				!d.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
				return nil
			}
			fi, err := d.Info()
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted while we walk
			}
			if err != nil {
				return err
			}
			oi, err := l.info(bucket, key, path, fi)
			if err != nil {
				return err
			}
			if !yield(oi, nil) {
				return errStopWalk
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopWalk) {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				yield(ObjectInfo{}, err)
				return
			}
			yield(ObjectInfo{}, fsErr("list", bucket+"/"+prefix, err))
		}
	}
}

// errStopWalk ends a walk early when the consumer stops iterating.
var errStopWalk = errors.New("stop walk")

// Ping reports whether the root directory is there and is a directory.
func (l *Local) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fi, err := os.Stat(l.dir)
	if err != nil {
		return fmt.Errorf("ping %s: %w: %w", l.dir, ErrUnavailable, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("ping %s: not a directory: %w", l.dir, ErrUnavailable)
	}
	return nil
}
