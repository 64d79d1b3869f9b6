package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

var (
	oldKey = []byte("old-signing-key-0123456789abcdef0123")
	newKey = []byte("new-signing-key-0123456789abcdef0123")
)

func TestSignatureLen(t *testing.T) {
	t.Parallel()
	if want := base64.RawURLEncoding.EncodedLen(sha256.Size); SignatureLen != want {
		t.Errorf("SignatureLen: got %d, want %d", SignatureLen, want)
	}
	if got := len(Sign(oldKey, "/x/y.webp")); got != SignatureLen {
		t.Errorf("len(Sign): got %d, want %d", got, SignatureLen)
	}
}

func TestSignIsHMACSHA256(t *testing.T) {
	t.Parallel()
	msg := DeliveryMessage("listing-main", "img_abc", "webp", 640)
	if want := "/listing-main/img_abc.webp?w=640"; msg != want {
		t.Fatalf("DeliveryMessage: got %q, want %q", msg, want)
	}
	mac := hmac.New(sha256.New, oldKey)
	mac.Write([]byte(msg))
	want := base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	if got := Sign(oldKey, msg); got != want {
		t.Errorf("Sign: got %q, want %q", got, want)
	}
	if got := DeliveryMessage("r", "i", "auto", 0); got != "/r/i.auto" {
		t.Errorf("DeliveryMessage without width: got %q, want %q", got, "/r/i.auto")
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	msg := DeliveryMessage("listing-main", "img_abc", "webp", 0)
	good := Sign(oldKey, msg)
	tests := []struct {
		name string
		keys [][]byte
		msg  string
		sig  string
		want bool
	}{
		{"signed with the only key", [][]byte{oldKey}, msg, good, true},
		{"rotation: old key still verifies", [][]byte{newKey, oldKey}, msg, good, true},
		{"new key signs", [][]byte{newKey, oldKey}, msg, Sign(newKey, msg), true},
		{"key removed", [][]byte{newKey}, msg, good, false},
		{"no keys", nil, msg, good, false},
		{"other recipe", [][]byte{oldKey}, DeliveryMessage("other", "img_abc", "webp", 0), good, false},
		{"other image", [][]byte{oldKey}, DeliveryMessage("listing-main", "img_abd", "webp", 0), good, false},
		{"other ext", [][]byte{oldKey}, DeliveryMessage("listing-main", "img_abc", "avif", 0), good, false},
		{"width added", [][]byte{oldKey}, DeliveryMessage("listing-main", "img_abc", "webp", 320), good, false},
		{"empty signature", [][]byte{oldKey}, msg, "", false},
		{"short signature", [][]byte{oldKey}, msg, good[:20], false},
		{"long signature", [][]byte{oldKey}, msg, good + "A", false},
		{"padded signature", [][]byte{oldKey}, msg, good[:42] + "=", false},
		{"not base64url", [][]byte{oldKey}, msg, strings.Repeat("!", SignatureLen), false},
		{"flipped character", [][]byte{oldKey}, msg, flip(good), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Verify(tt.keys, tt.msg, tt.sig); got != tt.want {
				t.Errorf("Verify: got %v, want %v", got, tt.want)
			}
		})
	}
}

func flip(sig string) string {
	b := []byte(sig)
	if b[5] == 'A' {
		b[5] = 'B'
	} else {
		b[5] = 'A'
	}
	return string(b)
}

func TestSignedURL(t *testing.T) {
	t.Parallel()
	got := SignedURL("https://img.example.com/", newKey, "listing-main", "img_abc", "auto", 960)
	msg := "/listing-main/img_abc.auto?w=960"
	want := "https://img.example.com/img/" + Sign(newKey, msg) + msg
	if got != want {
		t.Errorf("SignedURL: got %q, want %q", got, want)
	}
}

func TestDeliveryMessageExpires(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		width int
		exp   int64
		want  string
	}{
		{"no expiry is DeliveryMessage", 0, 0, "/r/i.webp"},
		{"no expiry with width", 640, 0, "/r/i.webp?w=640"},
		{"negative is no expiry", 640, -5, "/r/i.webp?w=640"},
		{"expiry", 0, 1700000000, "/r/i.webp?exp=1700000000"},
		{"expiry after width", 640, 1700000000, "/r/i.webp?w=640&exp=1700000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := DeliveryMessageExpires("r", "i", "webp", tt.width, tt.exp); got != tt.want {
				t.Errorf("DeliveryMessageExpires: got %q, want %q", got, tt.want)
			}
		})
	}
	// The expiry is signed: a signature without it, or with another, does not verify.
	withExp := DeliveryMessageExpires("r", "i", "webp", 640, 1700000000)
	sig := Sign(newKey, withExp)
	for name, msg := range map[string]string{
		"expiry dropped": DeliveryMessage("r", "i", "webp", 640),
		"expiry changed": DeliveryMessageExpires("r", "i", "webp", 640, 1700000001),
	} {
		if Verify([][]byte{newKey}, msg, sig) {
			t.Errorf("%s: Verify got true, want false", name)
		}
	}
	if !Verify([][]byte{newKey}, withExp, sig) {
		t.Errorf("Verify of the signed message: got false, want true")
	}
}

func TestSignedURLExpires(t *testing.T) {
	t.Parallel()
	got := SignedURLExpires("https://img.example.com/", newKey, "listing-main", "img_abc", "auto", 960, 1700000000)
	msg := "/listing-main/img_abc.auto?w=960&exp=1700000000"
	if want := "https://img.example.com/img/" + Sign(newKey, msg) + msg; got != want {
		t.Errorf("SignedURLExpires: got %q, want %q", got, want)
	}
	if got, want := SignedURLExpires("https://img.example.com", newKey, "r", "i", "png", 0, 0), SignedURL("https://img.example.com", newKey, "r", "i", "png", 0); got != want {
		t.Errorf("SignedURLExpires without expiry: got %q, want SignedURL's %q", got, want)
	}
}

func TestParseSigningKeys(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", MinSigningKeyLen)
	tests := []struct {
		name    string
		in      string
		want    int
		wantErr string
	}{
		{"none", "", 0, ""},
		{"one", long, 1, ""},
		{"two with blanks", " " + long + " , " + long + "2", 2, ""},
		{"short", "short", 0, "entry 1 is 5 bytes"},
		{"second short", long + ",abc", 0, "entry 2 is 3 bytes"},
		{"trailing comma", long + ",", 0, "entry 2 is 0 bytes"},
		{"duplicate", long + "," + long, 0, "entries 1 and 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSigningKeys(tt.in)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalidSigningKey) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSigningKeys: got error %v, want ErrInvalidSigningKey containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), long) || strings.Contains(err.Error(), "short") {
					t.Errorf("ParseSigningKeys: got error %q, want no key quoted", err)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("ParseSigningKeys: got %d keys, %v, want %d, nil", len(got), err, tt.want)
			}
			for _, k := range got {
				if strings.TrimSpace(string(k)) != string(k) {
					t.Errorf("key %q: got blanks, want them trimmed", k)
				}
			}
		})
	}
}
