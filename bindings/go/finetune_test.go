package feat

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// tuneSet reads a labelled fixture (class<TAB>input lines) with the class indices of the
// feat CLI's run on it (its TUNED.classes.txt: class k on line k + 1).
func tuneSet(t *testing.T, tsv, classes string) ([]string, []int) {
	t.Helper()
	cb, err := os.ReadFile(dataPath("ref", classes))
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]int{}
	for k, c := range strings.Split(strings.TrimSpace(string(cb)), "\n") {
		index[c] = k
	}
	var inputs []string
	var labels []int
	for _, l := range readLines(t, tsv) {
		c, in, _ := strings.Cut(string(l), "\t")
		k, ok := index[c]
		if !ok {
			t.Fatalf("class %q not in %s", c, classes)
		}
		inputs, labels = append(inputs, in), append(labels, k)
	}
	return inputs, labels
}

// sideCarRun is the "finetune" record of a tuned model's side-car, without the head's file
// name (which follows the output name).
func sideCarRun(t *testing.T, model string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(strings.TrimSuffix(model, ".pt") + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var side map[string]any
	if err := json.Unmarshal(b, &side); err != nil {
		t.Fatal(err)
	}
	run := side["finetune"].(map[string]any)
	delete(run, "head")
	return run
}

// oneThread runs the test under a thread budget of 1, as the CLI's reference runs were made.
func oneThread(t *testing.T) {
	saved := Threads()
	if err := SetThreads(1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { SetThreads(saved) })
}

type progressCall struct {
	epoch       uint32
	step        uint64
	loss, valAc float64
}

// The binding's run with the options of the CLI's reference run (prepare.py TUNE_TEXT_ARGS)
// gives the same record bit for bit (losses and accuracies as 17-digit decimals), and the
// tuned model extracts the CLI's features of its own tuned model.
func TestFinetuneTextsMatchesCLI(t *testing.T) {
	oneThread(t)
	texts, labels := tuneSet(t, "tune.tsv", "tuned-text.classes.txt")
	var calls []progressCall
	out := filepath.Join(t.TempDir(), "tuned.pt")
	rep, err := FinetuneTexts(context.Background(), env["FEAT_TEST_TINY_MODEL"], texts, labels, out, &FinetuneOptions{
		Epochs: 2, BatchSize: 2, ValidationFraction: 0.3, Seed: 3,
		Progress: func(e uint32, s uint64, loss, acc float64) bool {
			calls = append(calls, progressCall{e, s, loss, acc})
			return false
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := sideCarRun(t, dataPath("ref", "tuned-text.pt"))
	if got := sideCarRun(t, out); !reflect.DeepEqual(got, want) {
		t.Fatalf("side-car record\n%v\nwant\n%v", got, want)
	}
	trainLoss, valAcc := want["train_loss"].([]any), want["validation_accuracy"].([]any)
	if len(rep.TrainLoss) != 2 || len(rep.StepLosses) != 4 || rep.ChosenEpoch != int(want["chosen_epoch"].(float64)) {
		t.Fatalf("%+v", rep)
	}
	for e := range rep.TrainLoss {
		if rep.TrainLoss[e] != trainLoss[e].(float64) || rep.ValAccuracy[e] != valAcc[e].(float64) {
			t.Fatalf("epoch %d: %v %v, CLI %v %v", e, rep.TrainLoss[e], rep.ValAccuracy[e], trainLoss[e], valAcc[e])
		}
	}
	for i := range texts {
		if rep.ItemErr(i) != nil || rep.Errors[i] != "" {
			t.Fatal(rep.ItemErr(i))
		}
	}
	// After every step (val accuracy NaN), after every epoch (its mean loss and accuracy).
	var steps []uint64
	for i, c := range calls {
		steps = append(steps, c.step)
		epochEnd := i == 2 || i == 5
		if epochEnd != !math.IsNaN(c.valAc) || c.epoch != uint32(i/3) {
			t.Fatalf("call %d: %+v", i, c)
		}
		if !epochEnd && float32(c.loss) != rep.StepLosses[c.step-1] {
			t.Fatalf("call %d: loss %v, report %v", i, c.loss, rep.StepLosses[c.step-1])
		}
		if epochEnd && (c.loss != rep.TrainLoss[c.epoch] || c.valAc != rep.ValAccuracy[c.epoch]) {
			t.Fatalf("call %d: %+v vs %+v", i, c, rep)
		}
	}
	if !reflect.DeepEqual(steps, []uint64{1, 2, 2, 3, 4, 4}) {
		t.Fatal(steps)
	}
	ex, err := NewTextExtractor(out, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	f, err := ex.Extract(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	_, _, cli := readNpy(t, dataPath("ref", "tuned-text.npy"))
	assertSame(t, f.Data, cli)
}

// Images: a truncated JPEG among the inputs is left out and named in the report (the CLI left
// it out too); the rest trains to the CLI's record, and the tuned model extracts its features.
func TestFinetuneImagesMatchesCLI(t *testing.T) {
	oneThread(t)
	paths, labels := tuneSet(t, "tune-images.tsv", "tuned-image.classes.txt")
	out := filepath.Join(t.TempDir(), "tuned.pt")
	rep, err := FinetuneImages(context.Background(), env["FEAT_TEST_IMAGE_MODEL"], paths, labels, out, &FinetuneOptions{
		Train: "layer4.-1", HeadTap: "layer4.-1:gap", Epochs: 1, BatchSize: 2, LearningRate: 1e-4})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sideCarRun(t, out), sideCarRun(t, dataPath("ref", "tuned-image.pt")); !reflect.DeepEqual(got, want) {
		t.Fatalf("side-car record\n%v\nwant\n%v", got, want)
	}
	var good []string
	for i, p := range paths {
		err := rep.ItemErr(i)
		if strings.Contains(p, "truncated") {
			if !errors.Is(err, ErrDecode) || !strings.HasPrefix(rep.Errors[i], p+": ") {
				t.Fatalf("item %d: %v", i, err)
			}
		} else if err != nil {
			t.Fatal(err)
		} else {
			good = append(good, p)
		}
	}
	if len(good) != 5 || len(rep.StepLosses) != 3 || !math.IsNaN(rep.ValAccuracy[0]) {
		t.Fatalf("%+v", rep)
	}
	ex, err := NewImageExtractor(out, &ImageOptions{Taps: env["FEAT_TEST_TUNED_IMAGE_TAPS"]})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	f, err := ex.ExtractFiles(context.Background(), good)
	if err != nil {
		t.Fatal(err)
	}
	_, _, cli := readNpy(t, dataPath("ref", "tuned-image.npy"))
	assertSame(t, f.Data, cli)
}

// The callback cancels (by returning true, or through the context); a panic in it is
// recovered at the C boundary, cancels the run and is raised again from FinetuneTexts. A
// cancelled run writes nothing.
func TestFinetuneCancelPanicAndErrors(t *testing.T) {
	texts, labels := tuneSet(t, "tune.tsv", "tuned-text.classes.txt")
	model := env["FEAT_TEST_TINY_MODEL"]
	dir := t.TempDir()
	out := filepath.Join(dir, "t.pt")
	bg := context.Background()
	var seen []uint64
	_, err := FinetuneTexts(bg, model, texts, labels, out, &FinetuneOptions{Epochs: 3, BatchSize: 2,
		Progress: func(_ uint32, s uint64, _, _ float64) bool { seen = append(seen, s); return s == 2 }})
	if !errors.Is(err, ErrCancelled) || !reflect.DeepEqual(seen, []uint64{1, 2}) {
		t.Fatal(err, seen)
	}
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	_, err = FinetuneTexts(ctx, model, texts, labels, out, &FinetuneOptions{Epochs: 3, BatchSize: 2,
		Progress: func(uint32, uint64, float64, float64) bool { cancel(); return false }})
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v", r)
			}
		}()
		FinetuneTexts(bg, model, texts, labels, out, &FinetuneOptions{Epochs: 3, BatchSize: 2,
			Progress: func(uint32, uint64, float64, float64) bool { panic("boom") }})
		t.Fatal("no panic")
	}()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a cancelled run wrote %v", ents)
	}
	_, err = FinetuneTexts(bg, model, texts, labels, out, &FinetuneOptions{Epochs: 20000})
	if fe, ok := err.(*Error); !ok || fe.Status != StatusInvalidArgument || !strings.Contains(fe.Message, "above the limit") {
		t.Fatal(err)
	}
	if _, err = FinetuneImages(bg, model, []string{"a.png", "b.png"}, []int{0, 1}, out, nil); !errors.Is(err, ErrModel) ||
		!strings.Contains(err.Error(), "not an image model") {
		t.Fatal(err)
	}
	if _, err = FinetuneTexts(bg, model, texts, labels[:2], out, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal(err)
	}
	if _, err = FinetuneTexts(bg, model, texts, labels, out, &FinetuneOptions{Schedule: 9}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal(err)
	}
}
