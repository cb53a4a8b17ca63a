package ingest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestGenerateSecretFormats(t *testing.T) {
	t.Parallel()
	formats := map[Mode]*regexp.Regexp{
		ModeStandard: regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=$`),
		ModeHMAC:     regexp.MustCompile(`^whmac_[A-Za-z0-9_-]{43}$`),
		ModeToken:    regexp.MustCompile(`^whtok_[A-Za-z0-9_-]{43}$`),
	}
	for mode, re := range formats {
		seen := map[string]bool{}
		for range 200 {
			s, err := GenerateSecret(mode)
			if err != nil {
				t.Fatal(err)
			}
			if !re.MatchString(s) {
				t.Fatalf("%s: %q does not match %s", mode, s, re)
			}
			if seen[s] {
				t.Fatalf("%s: repeated secret", mode)
			}
			seen[s] = true
			gotMode, key, err := ParseSecret(s)
			if err != nil || gotMode != mode {
				t.Fatalf("%s: ParseSecret = %q, %v", mode, gotMode, err)
			}
			switch mode {
			case ModeStandard:
				want, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
				if len(key) != 32 || !bytes.Equal(key, want) {
					t.Fatalf("standard key = %x, want the 32 decoded bytes %x", key, want)
				}
			default:
				if string(key) != s {
					t.Fatalf("%s key = %q, want the whole secret", mode, key)
				}
			}
		}
	}
}

func TestGenerateSecretInvalidMode(t *testing.T) {
	t.Parallel()
	for _, m := range []Mode{"", "Standard", "bearer", "hmac "} {
		if _, err := GenerateSecret(m); !errors.Is(err, ErrInvalidMode) {
			t.Errorf("GenerateSecret(%q) err = %v", m, err)
		}
		if _, err := ParseMode(string(m)); !errors.Is(err, ErrInvalidMode) {
			t.Errorf("ParseMode(%q) err = %v", m, err)
		}
	}
	for _, m := range []Mode{ModeStandard, ModeHMAC, ModeToken} {
		if got, err := ParseMode(string(m)); err != nil || got != m {
			t.Errorf("ParseMode(%q) = %q, %v", m, got, err)
		}
	}
}

func TestParseSecretMalformed(t *testing.T) {
	t.Parallel()
	std := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	url := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	if _, _, err := ParseSecret(std); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ParseSecret("whmac_" + url); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"empty":                "",
		"no prefix":            url,
		"unknown prefix":       "whxyz_" + url,
		"upper prefix":         "WHSEC_" + strings.TrimPrefix(std, "whsec_"),
		"standard unpadded":    strings.TrimSuffix(std, "="),
		"standard url alpha":   "whsec_" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)),
		"standard 24 bytes":    "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 24)),
		"standard 33 bytes":    "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 33)),
		"standard non-canon":   std[:len(std)-2] + "x=",
		"standard space":       std + " ",
		"standard bare prefix": "whsec_",
		"hmac short":           "whmac_" + url[:42],
		"hmac long":            "whmac_" + url + "A",
		"hmac padded":          "whmac_" + url + "=",
		"hmac std alphabet":    "whmac_" + strings.Repeat("+", 43),
		"hmac non-canonical":   "whmac_" + url[:42] + "x",
		"token short":          "whtok_" + url[:40],
		"token newline":        "whtok_" + url[:42] + "\n",
		"token bare prefix":    "whtok_",
	}
	for name, s := range cases {
		mode, key, err := ParseSecret(s)
		if !errors.Is(err, ErrMalformedSecret) || mode != "" || key != nil {
			t.Errorf("%s: ParseSecret = %q, %x, %v; want ErrMalformedSecret", name, mode, key, err)
		}
		if err != nil && s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("%s: error quotes the secret", name)
		}
	}
}

func FuzzParseSecret(f *testing.F) {
	for _, m := range []Mode{ModeStandard, ModeHMAC, ModeToken} {
		s, err := GenerateSecret(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
		f.Add(s[:len(s)-1])
	}
	f.Add("whsec_")
	f.Add("whsec_====")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		mode, key, err := ParseSecret(s)
		if err != nil {
			if mode != "" || key != nil || !errors.Is(err, ErrMalformedSecret) {
				t.Fatalf("failure returned %q, %x, %v", mode, key, err)
			}
			return
		}
		if !mode.Valid() || !strings.HasPrefix(s, mode.Prefix()) {
			t.Fatalf("%q parsed as mode %q", s, mode)
		}
		switch mode {
		case ModeStandard:
			// Canonical: the key re-encodes to exactly the secret.
			if len(key) != SecretBytes || PrefixStandard+base64.StdEncoding.EncodeToString(key) != s {
				t.Fatalf("%q: standard key %x is not canonical", s, key)
			}
		default:
			raw, derr := base64.RawURLEncoding.DecodeString(s[len(mode.Prefix()):])
			if string(key) != s || derr != nil || len(raw) != SecretBytes ||
				mode.Prefix()+base64.RawURLEncoding.EncodeToString(raw) != s {
				t.Fatalf("%q: %s key not the canonical whole secret", s, mode)
			}
		}
	})
}
