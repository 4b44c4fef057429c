// Image folder -> features; sentences -> embeddings.
//
//	go run ./examples/features image MODEL.pt PHOTO_DIR [TAPS]
//	go run ./examples/features text MODEL.pt < sentences.txt
package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	feat "github.com/libfeat/libfeat/bindings/go"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string) error {
	ctx := context.Background()
	switch {
	case len(args) >= 3 && args[0] == "image":
		var paths []string
		filepath.Walk(args[2], func(p string, info os.FileInfo, err error) error {
			ext := strings.ToLower(filepath.Ext(p))
			if err == nil && (ext == ".jpg" || ext == ".jpeg" || ext == ".png") {
				paths = append(paths, p)
			}
			return nil
		})
		sort.Strings(paths)
		opts := &feat.ImageOptions{}
		if len(args) > 3 {
			opts.Taps = args[3]
		}
		ex, err := feat.NewImageExtractor(args[1], opts)
		if err != nil {
			return err
		}
		defer ex.Close()
		f, err := ex.ExtractFiles(ctx, paths)
		if err != nil {
			return err
		}
		for i, p := range paths {
			if err := f.ItemErr(i); err != nil {
				fmt.Fprintf(os.Stderr, "skipped %s: %v\n", p, err)
			}
		}
		fmt.Printf("%d x %d features (%s)\n", f.Rows-f.NFailed(), f.Dim, strings.Join(ex.Taps(), ", "))
	case len(args) == 2 && args[0] == "text":
		var lines []string
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		ex, err := feat.NewTextExtractor(args[1], "", &feat.TextOptions{Taps: "encoder.layer.-1:mean"})
		if err != nil {
			return err
		}
		defer ex.Close()
		f, err := ex.Extract(ctx, lines)
		if err != nil {
			return err
		}
		if f.Rows >= 2 {
			var dot, na, nb float64
			for i, x := range f.Row(0) {
				y := f.Row(1)[i]
				dot, na, nb = dot+float64(x*y), na+float64(x*x), nb+float64(y*y)
			}
			fmt.Printf("%d x %d embeddings; cosine(0, 1) = %.3f\n", f.Rows, f.Dim, dot/math.Sqrt(na*nb))
		}
	default:
		return fmt.Errorf("usage: features image MODEL DIR [TAPS] | features text MODEL < lines")
	}
	return nil
}
