package feat

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Fixtures come from bindings/testdata/prepare.py (models, inputs, the feat CLI's outputs).
var env map[string]string

func TestMain(m *testing.M) {
	data := os.Getenv("FEAT_TEST_DATA")
	if data == "" {
		root, _ := filepath.Abs("../..")
		py := filepath.Join(root, ".venv/bin/python")
		if _, err := os.Stat(py); err != nil {
			py = "python3"
		}
		out, err := exec.Command(py, filepath.Join(root, "bindings/testdata/prepare.py")).Output()
		if err != nil {
			fmt.Fprintf(os.Stderr, "prepare.py: %v\n", err)
			os.Exit(1)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		data = lines[len(lines)-1]
	}
	raw, err := os.ReadFile(filepath.Join(data, "env.txt"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env = map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		env[k] = v
	}
	os.Exit(m.Run())
}

func dataPath(p ...string) string {
	return filepath.Join(append([]string{env["FEAT_TEST_DATA"]}, p...)...)
}

func readNpy(t *testing.T, path string) (int, int, []float32) {
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte("\x93NUMPY")) {
		t.Fatalf("%s: %v", path, err)
	}
	hlen, start := int(binary.LittleEndian.Uint16(b[8:10])), 10
	if b[6] != 1 {
		hlen, start = int(binary.LittleEndian.Uint32(b[8:12])), 12
	}
	h := string(b[start : start+hlen])
	s := h[strings.Index(h, "'shape': (")+10:]
	s = s[:strings.Index(s, ")")]
	var dims []int
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			d, _ := strconv.Atoi(p)
			dims = append(dims, d)
		}
	}
	body := b[start+hlen:]
	out := make([]float32, len(body)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
	}
	return dims[0], dims[1], out
}

type row struct{ status, input, msg string }

func readRows(t *testing.T, npy string) []row {
	b, err := os.ReadFile(strings.TrimSuffix(npy, ".npy") + ".rows.tsv")
	if err != nil {
		t.Fatal(err)
	}
	var rows []row
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n")[1:] {
		p := strings.Split(l, "\t")
		for len(p) < 4 {
			p = append(p, "")
		}
		rows = append(rows, row{p[1], p[2], p[3]})
	}
	return rows
}

func assertSame(t *testing.T, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("length %d, want %d", len(got), len(want))
	}
	var max float64
	for i := range got {
		gn, wn := math.IsNaN(float64(got[i])), math.IsNaN(float64(want[i]))
		if gn != wn {
			t.Fatalf("NaN mismatch at %d", i)
		}
		if !wn {
			max = math.Max(max, math.Abs(float64(got[i]-want[i])))
		}
	}
	if max != 0 {
		t.Fatalf("max abs difference %g", max)
	}
}

func readLines(t *testing.T, name string) [][]byte {
	b, err := os.ReadFile(dataPath(name))
	if err != nil {
		t.Fatal(err)
	}
	l := bytes.Split(b, []byte("\n"))
	return l[:len(l)-1]
}

func files(t *testing.T) []string {
	var out []string
	for _, l := range readLines(t, "files.txt") {
		out = append(out, string(l))
	}
	return out
}

func imageEx(t *testing.T) *ImageExtractor {
	ex, err := NewImageExtractor(env["FEAT_TEST_IMAGE_MODEL"], &ImageOptions{Taps: env["FEAT_TEST_IMAGE_TAPS"]})
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

func note(line string) {
	f, err := os.OpenFile(dataPath("measurements.txt"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		fmt.Fprintln(f, "go: "+line)
		f.Close()
	}
}

func TestVersionAndErrors(t *testing.T) {
	if CheckABI() != nil || LibABIVersion() != ABIVersion {
		t.Fatal(CheckABI())
	}
	if !strings.HasPrefix(Version(), strconv.Itoa(VersionNumber()/10000)+".") {
		t.Fatal(Version())
	}
	err := error(&Error{Status: StatusDecode, Message: "bad"})
	if !errors.Is(err, ErrDecode) || errors.Is(err, ErrNotFound) || err.Error() != "feat: FEAT_E_DECODE: bad" {
		t.Fatal(err)
	}
	for s := Status(-14); s <= -1; s++ {
		if !strings.HasPrefix(s.String(), "FEAT_E_") {
			t.Fatal(s)
		}
	}
	if err := SetThreads(-1); !errors.Is(err, ErrInvalidArgument) || err.(*Error).Message == "" {
		t.Fatal(err)
	}
}

func TestImageFilesMatchCLI(t *testing.T) {
	ex := imageEx(t)
	defer ex.Close()
	fs := files(t)
	f, err := ex.ExtractFiles(context.Background(), fs)
	if err != nil {
		t.Fatal(err)
	}
	ref := dataPath("ref", "image.npy")
	rows, cols, want := readNpy(t, ref)
	if f.Rows != rows || f.Dim != cols || ex.Dim() != 640 || strings.Join(ex.Taps(), ",") != "layer4:gap,layer2:gmp" ||
		fmt.Sprint(ex.TapDims()) != "[512 128]" {
		t.Fatalf("%dx%d vs %dx%d, taps %v", f.Rows, f.Dim, rows, cols, ex.Taps())
	}
	assertSame(t, f.Data, want)
	for i, r := range readRows(t, ref) {
		if r.input != fs[i] {
			t.Fatalf("row %d is %s", i, r.input)
		}
		if e := f.ItemErr(i); e == nil {
			if r.status != "ok" {
				t.Fatalf("row %d: ok vs %s", i, r.status)
			}
		} else if fe := e.(*Error); fe.Status.String() != r.status || fe.Message != r.msg {
			t.Fatalf("row %d: %v vs %s %s", i, e, r.status, r.msg)
		}
	}
	if !errors.Is(f.ItemErr(1), ErrDecode) || !errors.Is(f.ItemErr(3), ErrNotFound) || f.NFailed() != 3 {
		t.Fatal(f.Statuses)
	}
}

func TestEncodedAndPixelsMatchFiles(t *testing.T) {
	ex := imageEx(t)
	defer ex.Close()
	good := []string{dataPath("images", "FreshFlower.jpg"), dataPath("images", "gradient.png")}
	want, err := ex.ExtractFiles(context.Background(), good)
	if err != nil {
		t.Fatal(err)
	}
	var blobs [][]byte
	for _, p := range good {
		b, _ := os.ReadFile(p)
		blobs = append(blobs, b)
	}
	got, err := ex.ExtractEncoded(context.Background(), append(blobs, []byte("garbage")))
	if err != nil {
		t.Fatal(err)
	}
	assertSame(t, got.Data[:2*got.Dim], want.Data)
	if got.NFailed() != 1 {
		t.Fatal(got.Statuses)
	}
	pix, _ := os.ReadFile(dataPath("images", "gradient.rgb"))
	padded := make([]byte, 61*300)
	for y := 0; y < 61; y++ {
		copy(padded[y*300:], pix[y*291:(y+1)*291])
	}
	px, err := ex.ExtractRGB8(context.Background(), []RGB8{{Pixels: pix, Width: 97, Height: 61}, {Pixels: padded, Width: 97, Height: 61, Stride: 300}})
	if err != nil {
		t.Fatal(err)
	}
	assertSame(t, px.Row(0), want.Row(1))
	assertSame(t, px.Row(1), want.Row(1))
	if _, err := ex.ExtractRGB8(context.Background(), []RGB8{{Pixels: pix[:10], Width: 97, Height: 61}}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal(err)
	}
	if f, err := ex.ExtractFiles(context.Background(), nil); err != nil || f.Rows != 0 || f.Dim != 640 {
		t.Fatal(f, err)
	}
}

func TestTextMatchesCLI(t *testing.T) {
	ex, err := NewTextExtractor(env["FEAT_TEST_TEXT_MODEL"], "", &TextOptions{Taps: env["FEAT_TEST_TEXT_TAPS"]})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	f, err := ex.ExtractBytes(context.Background(), readLines(t, "lines.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ref := dataPath("ref", "text.npy")
	_, _, want := readNpy(t, ref)
	assertSame(t, f.Data, want)
	for i, r := range readRows(t, ref) {
		if (f.Statuses[i] == StatusOK) != (r.status == "ok") || f.Errors[i] != r.msg {
			t.Fatalf("row %d: %v vs %v", i, f.ItemErr(i), r)
		}
	}
	if f.NFailed() != 1 || ex.Dim() != 384 {
		t.Fatal(f.Statuses)
	}
}

func TestPairsMatchCLI(t *testing.T) {
	ex, err := NewTextExtractor(env["FEAT_TEST_TEXT_MODEL"], "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	var a, b []string
	for _, l := range readLines(t, "pairs.txt") {
		x, y, _ := strings.Cut(string(l), "\t")
		a, b = append(a, x), append(b, y)
	}
	f, err := ex.ExtractPairs(context.Background(), a, b)
	if err != nil {
		t.Fatal(err)
	}
	_, _, want := readNpy(t, dataPath("ref", "pairs.npy"))
	assertSame(t, f.Data, want)
	if _, err := ex.ExtractPairs(context.Background(), a, b[:1]); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal(err)
	}
}

// bf16NearFP32 extracts the same inputs under bfloat16 and float32: autocast moves the
// features a little (so the option reached the model), never far.
func bf16NearFP32(t *testing.T, extract func(Precision) (*Features, error)) {
	t.Helper()
	var data [2][]float32
	for i, p := range []Precision{PrecisionBF16, PrecisionFP32} {
		f, err := extract(p)
		if err != nil || f.NFailed() != 0 {
			t.Fatal(p, err)
		}
		data[i] = f.Data
	}
	var diff, scale float64
	for i, v := range data[1] {
		diff = math.Max(diff, math.Abs(float64(data[0][i]-v)))
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	if len(data[0]) != len(data[1]) || diff == 0 || diff >= 0.1*scale {
		t.Fatalf("bf16 vs fp32: max difference %g, max value %g", diff, scale)
	}
}

func TestPrecision(t *testing.T) {
	ctx := context.Background()
	images := []string{dataPath("images", "FreshFlower.jpg"), dataPath("images", "gradient.png")}
	bf16NearFP32(t, func(p Precision) (*Features, error) {
		ex, err := NewImageExtractor(env["FEAT_TEST_IMAGE_MODEL"], &ImageOptions{Taps: env["FEAT_TEST_IMAGE_TAPS"], Precision: p})
		if err != nil {
			return nil, err
		}
		defer ex.Close()
		return ex.ExtractFiles(ctx, images)
	})
	var texts [][]byte
	for _, l := range readLines(t, "lines.txt") {
		if utf8.Valid(l) && len(texts) < 4 {
			texts = append(texts, l)
		}
	}
	bf16NearFP32(t, func(p Precision) (*Features, error) {
		ex, err := NewTextExtractor(env["FEAT_TEST_TEXT_MODEL"], "", &TextOptions{Taps: env["FEAT_TEST_TEXT_TAPS"], Precision: p})
		if err != nil {
			return nil, err
		}
		defer ex.Close()
		return ex.ExtractBytes(ctx, texts)
	})
	// A value outside the enumeration is refused by the C setter, with its message.
	_, ierr := NewImageExtractor(env["FEAT_TEST_IMAGE_MODEL"], &ImageOptions{Precision: 7})
	_, terr := NewTextExtractor(env["FEAT_TEST_TEXT_MODEL"], "", &TextOptions{Precision: 7})
	for _, err := range []error{ierr, terr} {
		if fe, ok := err.(*Error); !ok || fe.Status != StatusInvalidArgument ||
			!strings.HasPrefix(fe.Message, "precision 7 not understood") {
			t.Fatal(err)
		}
	}
}

func TestTokenizer(t *testing.T) {
	tok, err := NewTokenizer(env["FEAT_TEST_VOCAB"], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	pair := "second part"
	e, err := tok.Encode("Hello, world! Héllo", &pair)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(e.IDs[:3]) != "[101 7592 1010]" || fmt.Sprint(e.SequenceIDs) != "[-1 0 0 0 0 0 -1 1 1 -1]" ||
		e.Offsets[5] != [2]int64{14, 19} || e.ByteOffsets[5] != [2]int64{14, 20} {
		t.Fatalf("%+v", e)
	}
	if tok.VocabSize() != 30522 || tok.TokenToID("hello") != 7592 || tok.TokenToID("notatoken~~") != -1 {
		t.Fatal("vocab")
	}
	if s, ok := tok.IDToToken(7592); !ok || s != "hello" {
		t.Fatal(s)
	}
	if _, err := tok.Encode("caf\xe9", nil); !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatal(err)
	}
	short, _ := NewTokenizer(env["FEAT_TEST_VOCAB"], &TextOptions{MaxLength: 5})
	if e, _ := short.Encode("one two three four five six", nil); len(e.IDs) != 5 || e.NTruncated != 3 {
		t.Fatal(e)
	}
	short.Close()
	short.Close()
	if _, err := short.Encode("x", nil); !errors.Is(err, ErrState) {
		t.Fatal(err)
	}
	if _, err := NewTokenizer("/nonexistent/vocab.txt", nil); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}

func TestLayersAndLoadErrors(t *testing.T) {
	ls, err := Layers(env["FEAT_TEST_IMAGE_MODEL"], 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range ls {
		if l.Path == "layer4" {
			found = fmt.Sprint(l.Shape) == "[1 512 7 7]"
		}
		if (l.Shape == nil) != (l.Note != "") {
			t.Fatal(l)
		}
	}
	if !found {
		t.Fatal("layer4")
	}
	if _, err := Layers("/nonexistent/model.pt", 0); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "/nonexistent/model.pt") {
		t.Fatal(err)
	}
	opts := &ImageOptions{Taps: "layer4:gap"}
	if _, err := NewImageExtractor("/nonexistent/m.pt", opts); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.pt")
	os.WriteFile(garbage, []byte("not a model"), 0o644)
	if _, err := NewImageExtractor(garbage, opts); !errors.Is(err, ErrModel) {
		t.Fatal(err)
	}
	var fe *Error
	if _, err := NewImageExtractor(env["FEAT_TEST_IMAGE_MODEL"], &ImageOptions{Taps: "layer4:::"}); !errors.As(err, &fe) || fe.Status != StatusInvalidArgument || fe.Message == "" {
		t.Fatal(err)
	}
}

func TestCloseTwiceAndClones(t *testing.T) {
	ex := imageEx(t)
	c, err := ex.Clone()
	if err != nil {
		t.Fatal(err)
	}
	ex.Close()
	ex.Close()
	if _, err := ex.ExtractFiles(context.Background(), files(t)[:1]); !errors.Is(err, ErrState) {
		t.Fatal(err)
	}
	if _, err := ex.Clone(); !errors.Is(err, ErrState) {
		t.Fatal(err)
	}
	ex.Cancel() // on a closed extractor: nothing
	f, err := c.ExtractFiles(context.Background(), files(t)[:1])
	if err != nil || f.NFailed() != 0 {
		t.Fatal(f, err)
	}
	c.Close()
	// Forgotten extractors are freed by their finalizers.
	for i := 0; i < 50; i++ {
		x, _ := c.Clone()
		_ = x
	}
	runtime.GC()
}

func TestContextCancellation(t *testing.T) {
	ex, err := NewTextExtractor(env["FEAT_TEST_TEXT_MODEL"], "", &TextOptions{BatchSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	var texts []string
	for _, l := range readLines(t, "lines.txt") {
		if !bytes.ContainsRune(l, '\uFFFD') && !bytes.Contains(l, []byte{0xe9}) {
			texts = append(texts, string(l))
		}
	}
	var many []string
	for i := 0; i < 60; i++ {
		many = append(many, texts...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err = ex.Extract(ctx, many)
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v", err)
	}
	if time.Since(t0) > 10*time.Second {
		t.Fatal("cancellation took too long")
	}
	done, stop := context.WithCancel(context.Background())
	stop()
	if _, err := ex.Extract(done, texts); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if f, err := ex.Extract(context.Background(), texts[:2]); err != nil || f.NFailed() != 0 {
		t.Fatal(err)
	}
}

const goroutines = 8

func stressRounds() int {
	if n, err := strconv.Atoi(os.Getenv("FEAT_STRESS_ROUNDS")); err == nil {
		return n
	}
	return 3
}

func sameBits(a, b *Features) bool {
	if len(a.Data) != len(b.Data) || fmt.Sprint(a.Statuses) != fmt.Sprint(b.Statuses) {
		return false
	}
	for i := range a.Data {
		if math.Float32bits(a.Data[i]) != math.Float32bits(b.Data[i]) {
			return false
		}
	}
	return true
}

func concurrently(t *testing.T, work []func() (*Features, error), want *Features) time.Duration {
	var wg sync.WaitGroup
	errs := make(chan error, len(work)*stressRounds())
	t0 := time.Now()
	for _, w := range work {
		wg.Add(1)
		go func(w func() (*Features, error)) {
			defer wg.Done()
			for r := 0; r < stressRounds(); r++ {
				f, err := w()
				if err == nil && !sameBits(f, want) {
					err = errors.New("a concurrent result differs from the serial one")
				}
				if err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return time.Since(t0)
}

func TestGoroutinesIdenticalToSerial(t *testing.T) {
	saved := Threads()
	SetThreads(1) // one core per worker; the serial reference runs under the same budget
	defer SetThreads(saved)
	ctx := context.Background()
	tx, err := NewTextExtractor(env["FEAT_TEST_TEXT_MODEL"], "", &TextOptions{Taps: env["FEAT_TEST_TEXT_TAPS"]})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	lines := readLines(t, "lines.txt")
	want, _ := tx.ExtractBytes(ctx, lines)
	var work []func() (*Features, error)
	for i := 0; i < goroutines; i++ {
		c, err := tx.Clone()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		work = append(work, func() (*Features, error) { return c.ExtractBytes(ctx, lines) })
	}
	d := concurrently(t, work, want)
	note(fmt.Sprintf("%d goroutines x %d rounds x %d texts (MiniLM) identical to serial, %.1f s", goroutines, stressRounds(), len(lines), d.Seconds()))
	ix := imageEx(t)
	defer ix.Close()
	fs := files(t)
	want, _ = ix.ExtractFiles(ctx, fs)
	work = nil
	for i := 0; i < goroutines; i++ {
		c, _ := ix.Clone()
		defer c.Close()
		work = append(work, func() (*Features, error) { return c.ExtractFiles(ctx, fs) })
	}
	d = concurrently(t, work, want)
	note(fmt.Sprintf("%d goroutines x %d rounds x %d images (ResNet18) identical to serial, %.1f s", goroutines, stressRounds(), len(fs), d.Seconds()))
}

func rssMB() float64 {
	b, _ := os.ReadFile("/proc/self/statm")
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseFloat(f[1], 64)
	return pages * float64(os.Getpagesize()) / (1 << 20)
}

// Each cycle: clone (open) an extractor of a small model (bert-tiny), extract a batch with
// one good and one failing item, encode with the tokenizer, close. 1 KB per cycle would show.
func TestOpenCloseCyclesDoNotGrowMemory(t *testing.T) {
	cycles := 10000
	if n, err := strconv.Atoi(os.Getenv("FEAT_MEMORY_CYCLES")); err == nil {
		cycles = n
	}
	const boundMB = 10.0
	ex, err := NewTextExtractor(env["FEAT_TEST_TINY_MODEL"], "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	tok := ex.Tokenizer()
	ctx := context.Background()
	texts := [][]byte{[]byte("the quick brown fox"), {0xff}}
	cycle := func() {
		c, err := ex.Clone()
		if err != nil {
			t.Fatal(err)
		}
		f, err := c.ExtractBytes(ctx, texts)
		if err != nil || f.NFailed() != 1 || f.Dim != 64 {
			t.Fatal(f, err)
		}
		c.Close()
		if _, err := tok.Encode("jumps over the lazy dog", nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 500; i++ {
		cycle()
	}
	runtime.GC()
	before := rssMB()
	t0 := time.Now()
	for i := 0; i < cycles; i++ {
		cycle()
	}
	runtime.GC()
	after := rssMB()
	growth := after - before
	note(fmt.Sprintf("%d clone/extract/close cycles (bert-tiny): RSS %.1f -> %.1f MB (growth %+.2f MB, bound %.0f MB), %.1f s", cycles, before, after, growth, boundMB, time.Since(t0).Seconds()))
	if growth >= boundMB {
		t.Fatalf("RSS grew by %.2f MB", growth)
	}
}
