package pgcluster

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParseVersion(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]int{"15": {15}, "9.6": {9, 6}, "16": {16}, "": nil, "15beta": nil, "x": nil, "1.-2": nil} {
		got, ok := parseVersion(in)
		if ok != (want != nil) || !slices.Equal(got, want) {
			t.Errorf("parseVersion(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
}

// fakeBinDir makes dir/bin holding the named executables.
func fakeBinDir(t *testing.T, dir string, names ...string) string {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(bin, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

func TestDebianBinDirPicksHighestComplete(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	fakeBinDir(t, filepath.Join(root, "9.6"), "postgres", "initdb")
	want := fakeBinDir(t, filepath.Join(root, "15"), "postgres", "initdb")
	fakeBinDir(t, filepath.Join(root, "16"), "psql", "pg_dump") // client only
	fakeBinDir(t, filepath.Join(root, "17"), "postgres")        // no initdb
	fakeBinDir(t, filepath.Join(root, "notaversion"), "postgres", "initdb")
	if got, ok := debianBinDir(root); !ok || got != want {
		t.Errorf("debianBinDir = %q, %v; want %q", got, ok, want)
	}
	if got, ok := debianBinDir(filepath.Join(root, "missing")); ok {
		t.Errorf("debianBinDir of a missing root = %q", got)
	}
}

func TestBinDirEnv(t *testing.T) {
	// t.Setenv forbids t.Parallel.
	dir := t.TempDir()
	t.Setenv(BinDirEnv, dir)
	if _, err := BinDir(); !errors.Is(err, ErrNotFound) {
		t.Errorf("BinDir with an empty %s = %v, want ErrNotFound", BinDirEnv, err)
	}
	bin := fakeBinDir(t, dir, "postgres", "initdb")
	t.Setenv(BinDirEnv, bin)
	if got, err := BinDir(); err != nil || got != bin {
		t.Errorf("BinDir = %q, %v; want %q", got, err, bin)
	}
}
