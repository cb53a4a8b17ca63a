package user

import (
	"crypto/rand"
	"fmt"
	"io"
	"strings"

	"github.com/parkhq/park/internal/parkctl/cmdutil"
	"github.com/parkhq/park/tenancy"
)

// maxStdinRead bounds what --password-stdin reads: far more than any
// valid password, so an over-long one is reported by its length rather
// than cut.
const maxStdinRead = 4096

// readPassword reads the password that --password-stdin pipes in: all of
// standard input, with one trailing newline (\n or \r\n, what echo and
// printf '%s\n' add) removed and nothing else, so spaces at either end stay
// part of the password. Empty input, more than one line, and a password
// outside tenancy.MinPasswordLen to tenancy.MaxPasswordLen bytes (bcrypt
// reads only 72; a longer password would be cut silently) are usage errors
// (exit 2) that never quote the input.
func readPassword(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxStdinRead+1))
	if err != nil {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	s := string(b)
	if strings.HasSuffix(s, "\r\n") {
		s = s[:len(s)-2]
	} else if strings.HasSuffix(s, "\n") {
		s = s[:len(s)-1]
	}
	switch {
	case s == "":
		return "", cmdutil.FlagErrorf("--password-stdin: standard input holds no password; pipe it in, such as printf '%%s\\n' \"$PASSWORD\" | parkctl user …")
	case strings.ContainsAny(s, "\r\n"):
		return "", cmdutil.FlagErrorf("--password-stdin: standard input holds more than one line; the password is one line (one trailing newline is removed)")
	case len(s) > tenancy.MaxPasswordLen:
		if len(b) > maxStdinRead {
			return "", cmdutil.FlagErrorf("--password-stdin: the password is more than %d bytes; bcrypt reads at most %d, so it must be at most %d bytes",
				maxStdinRead, tenancy.MaxPasswordLen, tenancy.MaxPasswordLen)
		}
		return "", cmdutil.FlagErrorf("--password-stdin: the password is %d bytes; bcrypt reads at most %d, so it must be at most %d bytes",
			len(s), tenancy.MaxPasswordLen, tenancy.MaxPasswordLen)
	case len(s) < tenancy.MinPasswordLen:
		return "", cmdutil.FlagErrorf("--password-stdin: the password is %d bytes; it must be at least %d", len(s), tenancy.MinPasswordLen)
	}
	return s, nil
}

// generatedLen is the length of a generated password: 20 characters of 62
// carry 119 bits, beyond guessing, and fit bcrypt's 72 bytes.
const generatedLen = 20

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// generatePassword returns a random password of letters and digits (easy
// to read aloud or paste), from the operating system's random source.
// Bytes of 248 and above are dropped, so every character is equally
// likely (248 = 4 × 62).
func generatePassword(r io.Reader) (string, error) {
	out := make([]byte, 0, generatedLen)
	buf := make([]byte, 32)
	for len(out) < generatedLen {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("generate a password: %w", err)
		}
		for _, c := range buf {
			if c < 248 && len(out) < generatedLen {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// password returns the password of create and set-password: from standard
// input with --password-stdin, else a generated one (generated true),
// which the verb prints once.
func password(d Deps, fromStdin bool) (pw string, generated bool, err error) {
	if fromStdin {
		if d.IO.IsStdinTTY() {
			fmt.Fprintln(d.IO.ErrOut, "reading the password from standard input; end it with Enter and Ctrl-D")
		}
		pw, err = readPassword(d.IO.In)
		return pw, false, err
	}
	pw, err = generatePassword(rand.Reader)
	return pw, true, err
}

// warnShownOnce tells the operator that a generated password is printed
// this once.
func warnShownOnce(d Deps, email string) {
	fmt.Fprintf(d.IO.ErrOut, "warning: the generated password of %s is shown this once and stored nowhere; hand it over safely and have them change it\n", email)
}
