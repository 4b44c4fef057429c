package feat

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// concatRows is the reference of an ensemble: the members' own rows side by side.
func concatRows(t *testing.T, parts ...*Features) []float32 {
	t.Helper()
	var out []float32
	for i := 0; i < parts[0].Rows; i++ {
		for _, p := range parts {
			if p.Rows != parts[0].Rows {
				t.Fatalf("members gave %d and %d rows", parts[0].Rows, p.Rows)
			}
			out = append(out, p.Row(i)...)
		}
	}
	return out
}

// sameFloats is bit equality, NaN included (assertSame compares NaN places and values only).
func sameFloats(t *testing.T, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("length %d, want %d", len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) &&
			!(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
			t.Fatalf("value %d: %v, want %v", i, got[i], want[i])
		}
	}
}

// failedRows: a row that fails for any member fails in the ensemble, with the status of the
// first member (in order) that failed it and its message prefixed with that member's name.
func failedRows(t *testing.T, got *Features, names []string, members ...*Features) {
	t.Helper()
	for i := 0; i < got.Rows; i++ {
		want, msg := StatusOK, ""
		for k, m := range members {
			if m.Statuses[i] != StatusOK {
				want, msg = m.Statuses[i], names[k]+": "+m.Errors[i]
				break
			}
		}
		if got.Statuses[i] != want || got.Errors[i] != msg {
			t.Fatalf("row %d: %v %q, want %v %q", i, got.Statuses[i], got.Errors[i], want, msg)
		}
		if want != StatusOK {
			for _, v := range got.Row(i) {
				if !math.IsNaN(float64(v)) {
					t.Fatalf("failed row %d is not NaN", i)
				}
			}
		}
	}
}

func TestImageEnsembleEqualsMembers(t *testing.T) {
	ctx := context.Background()
	a := imageEx(t)
	defer a.Close()
	// Another preprocessing preset: the ensemble decodes once and preprocesses twice.
	b, err := NewImageExtractor(env["FEAT_TEST_IMAGE_MODEL"], &ImageOptions{Taps: "layer3:gap", Preset: PresetKerasVGG16})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	en, err := NewImageEnsemble([]*ImageExtractor{a, b}, []string{"A", "B"})
	if err != nil {
		t.Fatal(err)
	}
	defer en.Close()
	if en.Len() != 2 || en.Dim() != 640+256 || fmt.Sprint(en.TapDims()) != "[512 128 256]" ||
		strings.Join(en.Taps(), ",") != "layer4:gap,layer2:gmp,layer3:gap" || len(en.Members()) != 2 {
		t.Fatalf("len %d dim %d taps %v %v", en.Len(), en.Dim(), en.Taps(), en.TapDims())
	}
	fs := files(t)
	got, err := en.ExtractFiles(ctx, fs)
	if err != nil {
		t.Fatal(err)
	}
	fa, _ := a.ExtractFiles(ctx, fs)
	fb, _ := b.ExtractFiles(ctx, fs)
	sameFloats(t, got.Data, concatRows(t, fa, fb))
	failedRows(t, got, []string{"A", "B"}, fa, fb)
	if got.NFailed() != 3 || !errors.Is(got.ItemErr(1), ErrDecode) || !errors.Is(got.ItemErr(3), ErrNotFound) {
		t.Fatal(got.Statuses)
	}
	// member A's columns are the feat CLI's rows for the same files
	_, _, cli := readNpy(t, dataPath("ref", "image.npy"))
	for i := 0; i < got.Rows; i++ {
		assertSame(t, got.Row(i)[:640], cli[i*640:(i+1)*640])
	}

	good := []string{dataPath("images", "FreshFlower.jpg"), dataPath("images", "gradient.png")}
	var blobs [][]byte
	for _, p := range good {
		bl, _ := os.ReadFile(p)
		blobs = append(blobs, bl)
	}
	enc, err := en.ExtractEncoded(ctx, append(blobs, []byte("garbage")))
	if err != nil {
		t.Fatal(err)
	}
	ea, _ := a.ExtractEncoded(ctx, append(blobs, []byte("garbage")))
	eb, _ := b.ExtractEncoded(ctx, append(blobs, []byte("garbage")))
	sameFloats(t, enc.Data, concatRows(t, ea, eb))
	failedRows(t, enc, []string{"A", "B"}, ea, eb)
	pix, _ := os.ReadFile(dataPath("images", "gradient.rgb"))
	im := []RGB8{{Pixels: pix, Width: 97, Height: 61}}
	px, err := en.ExtractRGB8(ctx, im)
	if err != nil {
		t.Fatal(err)
	}
	pa, _ := a.ExtractRGB8(ctx, im)
	pb, _ := b.ExtractRGB8(ctx, im)
	sameFloats(t, px.Data, concatRows(t, pa, pb))
	if _, err := en.ExtractRGB8(ctx, []RGB8{{Pixels: pix[:10], Width: 97, Height: 61}}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal(err)
	}
}

func TestImageEnsembleLifetimes(t *testing.T) {
	ctx := context.Background()
	a := imageEx(t)
	defer a.Close()
	if _, err := NewImageEnsemble([]*ImageExtractor{a}, []string{"x", "y"}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal(err)
	}
	if _, err := NewImageEnsemble([]*ImageExtractor{a, nil}, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal(err)
	}
	empty, err := NewImageEnsemble(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := empty.ExtractFiles(ctx, files(t)[:1]); !errors.Is(err, ErrState) || !strings.Contains(err.Error(), "no members") {
		t.Fatal(err)
	}
	empty.Close()
	// The same member twice: two copies of its columns; unnamed members are "member K".
	c, _ := a.Clone()
	en, err := NewImageEnsemble([]*ImageExtractor{c, c}, nil)
	if err != nil {
		t.Fatal(err)
	}
	one := files(t)[:2]
	got, err := en.ExtractFiles(ctx, one)
	if err != nil {
		t.Fatal(err)
	}
	fc, _ := c.ExtractFiles(ctx, one)
	sameFloats(t, got.Data, concatRows(t, fc, fc))
	if !strings.HasPrefix(got.Errors[1], "member 0: ") {
		t.Fatal(got.Errors)
	}
	// A member closed under the ensemble fails its calls (no use of a freed extractor);
	// a closed member cannot join a new one.
	c.Close()
	if _, err := en.ExtractFiles(ctx, one); !errors.Is(err, ErrState) || !strings.Contains(err.Error(), "member 0 is closed") {
		t.Fatal(err)
	}
	if _, err := NewImageEnsemble([]*ImageExtractor{c}, nil); !errors.Is(err, ErrState) {
		t.Fatal(err)
	}
	en.Close()
	en.Close()
	if _, err := en.ExtractFiles(ctx, one); !errors.Is(err, ErrState) || en.Dim() != 0 || en.Len() != 0 || en.Members() != nil {
		t.Fatal(err)
	}
}

func TestTextEnsembleEqualsMembers(t *testing.T) {
	ctx := context.Background()
	tiny, err := NewTextExtractor(env["FEAT_TEST_TINY_MODEL"], "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tiny.Close()
	mini, err := NewTextExtractor(env["FEAT_TEST_TEXT_MODEL"], "", &TextOptions{Taps: env["FEAT_TEST_TEXT_TAPS"]})
	if err != nil {
		t.Fatal(err)
	}
	defer mini.Close()
	en, err := NewTextEnsemble([]*TextExtractor{tiny, mini}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer en.Close()
	if en.Len() != 2 || en.Dim() != 64+384 {
		t.Fatal(en.Len(), en.Dim())
	}
	lines := readLines(t, "lines.txt")
	got, err := en.ExtractBytes(ctx, lines)
	if err != nil {
		t.Fatal(err)
	}
	ft, _ := tiny.ExtractBytes(ctx, lines)
	fm, _ := mini.ExtractBytes(ctx, lines)
	sameFloats(t, got.Data, concatRows(t, ft, fm))
	failedRows(t, got, []string{"member 0", "member 1"}, ft, fm)
	if got.NFailed() != 1 {
		t.Fatal(got.Statuses)
	}
	var a, b []string
	for _, l := range readLines(t, "pairs.txt") {
		x, y, _ := strings.Cut(string(l), "\t")
		a, b = append(a, x), append(b, y)
	}
	pg, err := en.ExtractPairs(ctx, a, b)
	if err != nil {
		t.Fatal(err)
	}
	pt, _ := tiny.ExtractPairs(ctx, a, b)
	pm, _ := mini.ExtractPairs(ctx, a, b)
	sameFloats(t, pg.Data, concatRows(t, pt, pm))
	if _, err := en.ExtractPairs(ctx, a, b[:1]); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal(err)
	}
}

// A context that ends stops an ensemble's call (by cancelling its members); the members and
// the ensemble work afterwards.
func TestEnsembleContextCancellation(t *testing.T) {
	mini, err := NewTextExtractor(env["FEAT_TEST_TEXT_MODEL"], "", &TextOptions{BatchSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer mini.Close()
	tiny, _ := NewTextExtractor(env["FEAT_TEST_TINY_MODEL"], "", nil)
	defer tiny.Close()
	en, err := NewTextEnsemble([]*TextExtractor{mini, tiny}, []string{"mini", "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	defer en.Close()
	var many []string
	for i := 0; i < 400; i++ {
		many = append(many, "the quick brown fox jumps over the lazy dog, again and again")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if _, err := en.Extract(ctx, many); !errors.Is(err, ErrCancelled) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	if time.Since(t0) > 10*time.Second {
		t.Fatal("cancellation took too long")
	}
	if f, err := en.Extract(context.Background(), many[:2]); err != nil || f.NFailed() != 0 || f.Dim != 384+64 {
		t.Fatal(f, err)
	}
}
