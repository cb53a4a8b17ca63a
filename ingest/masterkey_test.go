package ingest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
)

var testKeyB64 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, MasterKeySize))

func TestParseMasterKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		version int
		wantErr string
	}{
		{in: "v2:" + testKeyB64, version: 2},
		{in: "  v3:" + testKeyB64 + "\n", version: 3},
		{in: testKeyB64, version: 1},
		{in: "v9:" + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), version: 9},
		{in: "v4294967295:" + testKeyB64, version: 4294967295},
		{in: "v4294967296:" + testKeyB64, wantErr: "whole number from 1"},
		{in: "v0:" + testKeyB64, wantErr: "whole number from 1"},
		{in: "x1:" + testKeyB64, wantErr: `must be "v<N>:<base64>"`},
		{in: "v1:!!!!", wantErr: "not valid base64"},
		{in: "v1:" + base64.StdEncoding.EncodeToString(make([]byte, 16)), wantErr: "must decode to 32 bytes, not 16"},
		{in: "", wantErr: "must decode to 32 bytes, not 0"},
	}
	for _, tt := range tests {
		k, err := ParseMasterKey(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseMasterKey(%q) = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || k.Version != tt.version || len(k.Key) != MasterKeySize {
			t.Errorf("ParseMasterKey(%q) = v%d (%d bytes), %v; want v%d", tt.in, k.Version, len(k.Key), err, tt.version)
		}
	}
}

func TestMasterKeyNeverPrintsKey(t *testing.T) {
	t.Parallel()
	k, err := ParseMasterKey("v5:" + testKeyB64)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{k.String(), fmt.Sprintf("%v %+v %#v %x %s", k, k, k, k, k)} {
		if strings.Contains(s, "BwcH") || strings.Contains(s, "0707") {
			t.Fatalf("key printed: %s", s)
		}
	}
	if k.String() != "v5:[redacted]" {
		t.Errorf("String = %q", k.String())
	}
}

func TestParseMasterKeyListAndKeyring(t *testing.T) {
	t.Parallel()
	other := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, MasterKeySize))
	old, err := ParseMasterKeyList(" v1:" + other + ", ,v3:" + testKeyB64)
	if err != nil || len(old) != 2 || old[0].Version != 1 || old[1].Version != 3 {
		t.Fatalf("list: %v, %v", old, err)
	}
	_, err = ParseMasterKeyList("v1:abc,v2:" + other + ",z!")
	if err == nil || !strings.Contains(err.Error(), "key 1: key must decode") || !strings.Contains(err.Error(), "key 3: key is not valid base64") {
		t.Fatalf("every bad key should be reported: %v", err)
	}
	cur, _ := ParseMasterKey("v2:" + testKeyB64)
	ring, err := NewKeyring(cur, old...)
	if err != nil || ring.Current != 2 || len(ring.Keys) != 3 {
		t.Fatalf("keyring: %v, %v", ring, err)
	}
	if _, err := NewKeyring(cur, old[0], cur); err == nil || !strings.Contains(err.Error(), "version 2 is used twice") {
		t.Fatalf("duplicate version: %v", err)
	}
	if _, err := NewKeyring(MasterKey{}); err == nil {
		t.Fatal("an empty key made a keyring")
	}
	// A key sealed under v1 opens through a keyring built from the list.
	testTenant, testSecret := uuid.New(), uuid.New()
	v1 := MasterKey{Version: 1, Key: bytes.Repeat([]byte{9}, MasterKeySize)}
	sealed, _, err := (&Keyring{Current: 1, Keys: map[int][]byte{1: v1.Key}}).Seal(testTenant, testSecret, []byte("s"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Open(1, testTenant, testSecret, sealed); err != nil {
		t.Fatalf("open under old key: %v", err)
	}
	if _, err := ring.Open(7, testTenant, testSecret, sealed); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Fatalf("unknown version: %v", err)
	}
}

func FuzzParseMasterKey(f *testing.F) {
	f.Add("v2:" + testKeyB64)
	f.Add(testKeyB64)
	f.Add("v1:")
	f.Add("v4294967296:AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseMasterKey(s)
		if err != nil {
			if strings.Contains(err.Error(), s) && len(s) > 8 {
				t.Fatalf("error quotes the input: %v", err)
			}
			return
		}
		if k.Version < 1 || k.Version > 1<<32-1 || len(k.Key) != MasterKeySize {
			t.Fatalf("accepted %q as v%d with %d bytes", s, k.Version, len(k.Key))
		}
	})
}
