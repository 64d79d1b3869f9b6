package auth

import (
	"strings"
	"testing"
)

// FuzzVerify checks signed delivery URLs: building and verifying never
// panics, a message signed with a key verifies under any key list holding
// it, and changing any single byte of the message or the signature, or
// using another key, makes it fail. Arbitrary signatures never verify.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123456789abcdef"), "listing-main", "img_0123456789abcdef", "webp", 640, int64(0), "")
	f.Add([]byte("k"), "thumb", "img_1", "jpg", 0, int64(1700000000), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add([]byte{}, "", "", "", -1, int64(-5), "not a signature")
	f.Add([]byte("\x00\xff"), "r/../x", "i?w=1", "png&exp=2", 1<<30, int64(1<<62), "____________________________________________=")
	f.Fuzz(func(t *testing.T, key []byte, recipe, imageID, ext string, width int, exp int64, sig string) {
		msg := DeliveryMessageExpires(recipe, imageID, ext, width, exp)
		if exp <= 0 && msg != DeliveryMessage(recipe, imageID, ext, width) {
			t.Fatalf("DeliveryMessageExpires with exp %d: got %q, want DeliveryMessage %q", exp, msg, DeliveryMessage(recipe, imageID, ext, width))
		}
		good := Sign(key, msg)
		if len(good) != SignatureLen {
			t.Fatalf("signature length: got %d, want %d", len(good), SignatureLen)
		}
		other := append([]byte("other"), key...)
		if !Verify([][]byte{key}, msg, good) || !Verify([][]byte{other, key}, msg, good) {
			t.Fatalf("Verify(%q, %q) = false, want true", msg, good)
		}
		if Verify([][]byte{other}, msg, good) || Verify(nil, msg, good) {
			t.Fatalf("Verify(%q, %q) under the wrong keys = true, want false", msg, good)
		}
		u := SignedURLExpires("https://cdn.example.com/", key, recipe, imageID, ext, width, exp)
		if want := "https://cdn.example.com/img/" + good + msg; u != want {
			t.Fatalf("SignedURLExpires: got %q, want %q", u, want)
		}
		// Every single-byte change of the message fails: flip a bit at each
		// position, capped so a long input stays fast.
		for i := 0; i < len(msg) && i < 256; i++ {
			b := []byte(msg)
			b[i] ^= 0x01
			if Verify([][]byte{key}, string(b), good) {
				t.Fatalf("Verify of %q changed at byte %d = true, want false", b, i)
			}
		}
		for i := 0; i < len(good); i++ {
			b := []byte(good)
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			if Verify([][]byte{key}, msg, string(b)) {
				t.Fatalf("Verify with signature %q changed at byte %d = true, want false", b, i)
			}
		}
		if sig != good && Verify([][]byte{key}, msg, sig) {
			t.Fatalf("Verify with arbitrary signature %q = true, want false", sig)
		}
		if Verify([][]byte{key}, msg, good+"=") || Verify([][]byte{key}, msg, strings.TrimSuffix(good, good[len(good)-1:])) {
			t.Fatalf("Verify with a padded or shortened signature = true, want false")
		}
	})
}
