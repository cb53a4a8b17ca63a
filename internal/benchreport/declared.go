package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// benchFunc matches the declaration of a benchmark function in a test
// file, as `go test -bench` finds them.
var benchFunc = regexp.MustCompile(`(?m)^func (Benchmark[A-Z0-9_]\w*|Benchmark)\(\w+ \*testing\.B\) \{`)

// declared lists the benchmark functions of the module at root, as
// benchKey(import path, name), so that a benchmark the run did not report
// is listed as missing rather than left out.
func declared(root string) (map[string]bool, error) {
	module, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			if p != root {
				if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
					return filepath.SkipDir // another module
				}
			}
			return nil
		}
		if !strings.HasSuffix(name, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		pkg := module
		if rel != "." {
			pkg = path.Join(module, filepath.ToSlash(rel))
		}
		for _, m := range benchFunc.FindAllSubmatch(src, -1) {
			out[benchKey(pkg, string(m[1]))] = true
		}
		return nil
	})
	return out, err
}

// modulePath reads the module line of a go.mod.
func modulePath(gomod string) (string, error) {
	raw, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	return "", fmt.Errorf("%s: %w", gomod, errors.New("no module line"))
}

// benchDirs returns the packages of the module at root that declare
// benchmarks, as ./dir patterns relative to root, sorted: the only test
// binaries a benchmark run needs to build.
func benchDirs(root string) ([]string, error) {
	module, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, err
	}
	decl, err := declared(root)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var dirs []string
	for k := range decl {
		pkg, _, _ := strings.Cut(k, " ")
		dir := "./" + strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		if pkg == module {
			dir = "."
		}
		if !seen[dir] {
			seen[dir] = true
			dirs = append(dirs, dir)
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}
