package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config configures an S3 store.
type S3Config struct {
	// Endpoint is host:port of the S3 API, e.g. "127.0.0.1:9000" or
	// "s3.eu-west-1.amazonaws.com". An "http://" or "https://" prefix is
	// accepted and then decides UseSSL. Required; default "".
	Endpoint string
	// AccessKey is the access key ID; empty with SecretKey for anonymous access. Default "".
	AccessKey string
	// SecretKey is the secret access key. Default "".
	SecretKey string
	// Region is the bucket region; set so that no location lookups are needed.
	// Default "us-east-1".
	Region string
	// UseSSL selects HTTPS. Default false.
	UseSSL bool
	// Timeout bounds each call: connecting, and the whole of EnsureBucket,
	// Stat, Delete, Ping, PresignGet and Put (Put gets one more second per
	// MiB of data); for Get it bounds the wait for the response headers, not
	// the reading of the body. Default 30s.
	Timeout time.Duration
	// MaxRetries is how many attempts minio-go makes per request on network
	// errors and 5xx answers; 1 disables retries. Default 3.
	MaxRetries int
}

// DefaultS3Config returns the defaults: Region "us-east-1", Timeout 30s,
// MaxRetries 3, no endpoint.
func DefaultS3Config() S3Config {
	return S3Config{Region: "us-east-1", Timeout: 30 * time.Second, MaxRetries: 3}
}

// Validate reports whether the configuration can be used.
func (c S3Config) Validate() error {
	var errs []error
	if _, _, err := c.endpoint(); err != nil {
		errs = append(errs, err)
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		errs = append(errs, errors.New("storage: s3 access key and secret key must be set together"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("storage: s3 timeout %s must be positive", c.Timeout))
	}
	if c.MaxRetries < 1 {
		errs = append(errs, fmt.Errorf("storage: s3 max retries %d must be at least 1", c.MaxRetries))
	}
	return errors.Join(errs...)
}

// endpoint returns host:port and whether to use TLS.
func (c S3Config) endpoint() (string, bool, error) {
	ep := strings.TrimSpace(c.Endpoint)
	if ep == "" {
		return "", false, errors.New("storage: s3 endpoint is empty")
	}
	secure := c.UseSSL
	if strings.Contains(ep, "://") {
		u, err := url.Parse(ep)
		if err != nil {
			return "", false, fmt.Errorf("storage: s3 endpoint %q: %w", ep, err)
		}
		switch u.Scheme {
		case "http":
			secure = false
		case "https":
			secure = true
		default:
			return "", false, fmt.Errorf("storage: s3 endpoint %q: scheme must be http or https", ep)
		}
		if u.Path != "" && u.Path != "/" {
			return "", false, fmt.Errorf("storage: s3 endpoint %q: must not have a path", ep)
		}
		ep = u.Host
	}
	if ep == "" || strings.ContainsAny(ep, "/?#@ ") {
		return "", false, fmt.Errorf("storage: s3 endpoint %q: want host or host:port", c.Endpoint)
	}
	return ep, secure, nil
}

// S3 is an object store on S3 or an S3-compatible server such as MinIO.
type S3 struct {
	client *minio.Client
	cfg    S3Config

	mu    sync.Mutex
	known []string // buckets passed to EnsureBucket, for Ping
}

// NewS3 validates cfg and returns the store. It makes no network call.
func NewS3(cfg S3Config) (*S3, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ep, secure, _ := cfg.endpoint()
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("storage: s3 transport: %w", err)
	}
	tr.DialContext = (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = cfg.Timeout
	tr.TLSHandshakeTimeout = cfg.Timeout
	var creds *credentials.Credentials
	if cfg.AccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	} else {
		creds = credentials.New(&credentials.Static{}) // anonymous
	}
	client, err := minio.New(ep, &minio.Options{
		Creds:      creds,
		Secure:     secure,
		Transport:  tr,
		Region:     cfg.Region,
		MaxRetries: cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("storage: s3 client: %w", err)
	}
	return &S3{client: client, cfg: cfg}, nil
}

// Client returns the underlying minio-go client, for what this package does
// not cover.
func (s *S3) Client() *minio.Client { return s.client }

// s3Err translates a minio-go error at the boundary: missing keys and
// buckets wrap ErrNotFound; network errors, timeouts and 5xx answers wrap
// ErrUnavailable; the original error stays in the chain. ctx is the caller's
// context, before any timeout of ours was added to it.
func s3Err(ctx context.Context, op, what string, err error) error {
	if kind := classify(ctx, err); kind != nil {
		return fmt.Errorf("%s %s: %w: %w", op, what, kind, err)
	}
	return fmt.Errorf("%s %s: %w", op, what, err)
}

// classify returns ErrNotFound, ErrUnavailable or nil for err.
func classify(ctx context.Context, err error) error {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch er.Code {
		case minio.NoSuchKey, minio.NoSuchBucket, "NotFound", "NoSuchVersion":
			return ErrNotFound
		case "ServiceUnavailable", "SlowDown", minio.InternalError, "XMinioServerNotInitialized",
			"XMinioStorageFull", "RequestTimeout":
			return ErrUnavailable
		}
		if er.StatusCode >= 500 {
			return ErrUnavailable
		}
		if er.StatusCode == 404 && er.Code == "" {
			return ErrNotFound
		}
		return nil
	}
	if errors.Is(err, context.Canceled) {
		if ctx.Err() != nil {
			return nil // the caller gave up: not the store's fault
		}
		return ErrUnavailable // our own timeout cancelled the call
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) ||
		minio.IsNetworkOrHostDown(err, false) {
		return ErrUnavailable
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return ErrUnavailable
	}
	return nil
}

// withTimeout bounds a call by the configured timeout plus extra.
func (s *S3) withTimeout(ctx context.Context, extra time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.Timeout+extra)
}

// EnsureBucket creates the bucket if it does not exist, and remembers it for Ping.
func (s *S3) EnsureBucket(ctx context.Context, bucket string) error {
	if err := ValidateBucket(bucket); err != nil {
		return err
	}
	cctx, cancel := s.withTimeout(ctx, 0)
	defer cancel()
	ok, err := s.client.BucketExists(cctx, bucket)
	if err != nil {
		return s3Err(ctx, "ensure bucket", bucket, err)
	}
	if !ok {
		err := s.client.MakeBucket(cctx, bucket, minio.MakeBucketOptions{Region: s.cfg.Region})
		if err != nil {
			code := minio.ToErrorResponse(err).Code
			if code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
				return s3Err(ctx, "create bucket", bucket, err)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.known {
		if b == bucket {
			return nil
		}
	}
	s.known = append(s.known, bucket)
	return nil
}

// Put writes data under bucket/key, replacing any object there. The bucket
// must exist (ErrNotFound otherwise).
func (s *S3) Put(ctx context.Context, bucket, key string, data []byte, opts PutOptions) error {
	if err := validate(bucket, key); err != nil {
		return err
	}
	if err := ValidateMeta(opts.Meta); err != nil {
		return err
	}
	ct := opts.ContentType
	if ct == "" {
		ct = DefaultContentType
	}
	cctx, cancel := s.withTimeout(ctx, time.Duration(len(data)>>20)*time.Second)
	defer cancel()
	_, err := s.client.PutObject(cctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		ContentType:  ct,
		UserMetadata: opts.Meta,
		// Send a Content-MD5 so the server verifies the bytes it got.
		SendContentMd5: true,
	})
	if err != nil {
		return s3Err(ctx, "put", bucket+"/"+key, err)
	}
	return nil
}

// objectInfo converts minio-go's ObjectInfo of bucket/key.
func objectInfo(bucket string, o minio.ObjectInfo, meta map[string]string) ObjectInfo {
	oi := ObjectInfo{
		Bucket:      bucket,
		Key:         o.Key,
		Size:        o.Size,
		ContentType: o.ContentType,
		ETag:        o.ETag,
		Modified:    o.LastModified,
	}
	if oi.ContentType == "" {
		oi.ContentType = DefaultContentType
	}
	for k, v := range meta {
		if oi.Meta == nil {
			oi.Meta = make(map[string]string, len(meta))
		}
		oi.Meta[strings.ToLower(k)] = v
	}
	return oi
}

// Stat returns the object's info without reading its content.
func (s *S3) Stat(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	if err := validate(bucket, key); err != nil {
		return ObjectInfo{}, err
	}
	cctx, cancel := s.withTimeout(ctx, 0)
	defer cancel()
	o, err := s.client.StatObject(cctx, bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s3Err(ctx, "stat", bucket+"/"+key, err)
	}
	return objectInfo(bucket, o, o.UserMetadata), nil
}

// objectReader is the body of a Get; Close also releases the call's context.
type objectReader struct {
	*minio.Object
	cancel context.CancelFunc
}

// Close closes the body and releases the call's context.
func (r objectReader) Close() error {
	err := r.Object.Close()
	r.cancel()
	return err
}

// Get opens the object for reading; the caller closes the reader. The
// configured timeout bounds the wait for the object's headers; reading the
// body is bounded by ctx only.
func (s *S3) Get(ctx context.Context, bucket, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := validate(bucket, key); err != nil {
		return nil, ObjectInfo{}, err
	}
	cctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(s.cfg.Timeout, cancel)
	fail := func(err error) (io.ReadCloser, ObjectInfo, error) {
		timer.Stop()
		cancel()
		return nil, ObjectInfo{}, s3Err(ctx, "get", bucket+"/"+key, err)
	}
	obj, err := s.client.GetObject(cctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return fail(err)
	}
	o, err := obj.Stat() // sends the request
	if err != nil {
		obj.Close()
		return fail(err)
	}
	if !timer.Stop() {
		obj.Close()
		return fail(context.DeadlineExceeded)
	}
	return objectReader{Object: obj, cancel: cancel}, objectInfo(bucket, o, o.UserMetadata), nil
}

// Delete removes the object; a missing object or bucket is not an error.
func (s *S3) Delete(ctx context.Context, bucket, key string) error {
	if err := validate(bucket, key); err != nil {
		return err
	}
	cctx, cancel := s.withTimeout(ctx, 0)
	defer cancel()
	err := s.client.RemoveObject(cctx, bucket, key, minio.RemoveObjectOptions{})
	if err != nil {
		err = s3Err(ctx, "delete", bucket+"/"+key, err)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	return nil
}

// List yields every object whose key starts with prefix, in lexical key
// order. Meta and ContentType are filled when the server returns them with
// listings (MinIO does); otherwise call Stat. A missing bucket yields one
// ErrNotFound error. Each page request is bounded by the configured timeout.
func (s *S3) List(ctx context.Context, bucket, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		if err := ValidateBucket(bucket); err != nil {
			yield(ObjectInfo{}, err)
			return
		}
		if err := validatePrefix(prefix); err != nil {
			yield(ObjectInfo{}, err)
			return
		}
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		noOwner := false
		for o := range s.client.ListObjectsIter(cctx, bucket, minio.ListObjectsOptions{
			Prefix:       prefix,
			Recursive:    true,
			WithMetadata: true,
			FetchOwner:   &noOwner,
		}) {
			if o.Err != nil {
				yield(ObjectInfo{}, s3Err(ctx, "list", bucket+"/"+prefix, o.Err))
				return
			}
			if o.ContentType == "" {
				for k, v := range o.UserMetadata {
					if strings.EqualFold(k, "content-type") {
						o.ContentType = v
					}
				}
			}
			if !yield(objectInfo(bucket, o, o.UserMetadataStripped), nil) {
				return
			}
		}
		if err := ctx.Err(); err != nil {
			yield(ObjectInfo{}, err)
		}
	}
}

// Ping checks that the server answers: BucketExists on the first bucket
// given to EnsureBucket, or ListBuckets before that. A server that cannot be
// reached gives ErrUnavailable; a known bucket that is gone, ErrNotFound.
func (s *S3) Ping(ctx context.Context) error {
	s.mu.Lock()
	var bucket string
	if len(s.known) > 0 {
		bucket = s.known[0]
	}
	s.mu.Unlock()
	cctx, cancel := s.withTimeout(ctx, 0)
	defer cancel()
	if bucket == "" {
		if _, err := s.client.ListBuckets(cctx); err != nil {
			return s3Err(ctx, "ping", s.client.EndpointURL().Host, err)
		}
		return nil
	}
	ok, err := s.client.BucketExists(cctx, bucket)
	if err != nil {
		return s3Err(ctx, "ping", bucket, err)
	}
	if !ok {
		return fmt.Errorf("ping: bucket %s: %w", bucket, ErrNotFound)
	}
	return nil
}

// MaxPresignExpiry is the longest expiry PresignGet accepts (S3's limit).
const MaxPresignExpiry = 7 * 24 * time.Hour

// PresignGet returns a URL that fetches the object without credentials for
// expiry (1s to MaxPresignExpiry). It makes no network call and does not
// check that the object exists.
func (s *S3) PresignGet(ctx context.Context, bucket, key string, expiry time.Duration) (string, error) {
	if err := validate(bucket, key); err != nil {
		return "", err
	}
	if expiry < time.Second || expiry > MaxPresignExpiry {
		return "", fmt.Errorf("presign %s/%s: expiry %s must be between 1s and %s", bucket, key, expiry, MaxPresignExpiry)
	}
	cctx, cancel := s.withTimeout(ctx, 0)
	defer cancel()
	u, err := s.client.PresignedGetObject(cctx, bucket, key, expiry, nil)
	if err != nil {
		return "", s3Err(ctx, "presign", bucket+"/"+key, err)
	}
	return u.String(), nil
}
