package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pictor/pictor/jobs"
)

// jsonMembers lists the JSON members of t and of every struct it holds (through
// pointers, slices and maps), each as its path ("trial.samples.row") with its tag, so two
// types can be compared member for member. time.Time is a leaf.
func jsonMembers(t reflect.Type, prefix string, out map[string]string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeFor[time.Time]() {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[prefix+name] = tag + " " + kindOf(f.Type)
		jsonMembers(f.Type, prefix+name+".", out)
	}
}

// kindOf names a type's shape as JSON sees it: the kinds down to a named leaf, so that a
// string member that became a number, or a list that became an object, shows.
func kindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return "*" + kindOf(t.Elem())
	case reflect.Slice:
		if t == reflect.TypeFor[json.RawMessage]() {
			return "raw"
		}
		return "[]" + kindOf(t.Elem())
	case reflect.Map:
		return "map[" + kindOf(t.Key()) + "]" + kindOf(t.Elem())
	case reflect.Struct:
		if t == reflect.TypeFor[time.Time]() {
			return "time"
		}
		return "struct"
	}
	return t.Kind().String()
}

// TestBatchViewMatchesJobsBatch: every JSON member of jobs.Batch, and of the types it
// holds, is in BatchView with the same tag and shape, and BatchView has no other, so a
// member added to one and not the other fails here.
func TestBatchViewMatchesJobsBatch(t *testing.T) {
	t.Parallel()
	for _, pair := range []struct {
		name       string
		model, api reflect.Type
	}{
		{"batch", reflect.TypeFor[jobs.Batch](), reflect.TypeFor[BatchView]()},
		{"trial (a refused start's member)", reflect.TypeFor[jobs.Trial](), reflect.TypeFor[TrialView]()},
	} {
		model, view := map[string]string{}, map[string]string{}
		jsonMembers(pair.model, "", model)
		jsonMembers(pair.api, "", view)
		if len(model) < 10 {
			t.Fatalf("%s: found %d members of the model, want the whole of it: %v", pair.name, len(model), model)
		}
		for _, k := range slices.Sorted(maps.Keys(model)) {
			if got, ok := view[k]; !ok {
				t.Errorf("%s: member %s (%s) of the model is missing from the view", pair.name, k, model[k])
			} else if got != model[k] {
				t.Errorf("%s: member %s: got %q in the view, want %q as in the model", pair.name, k, got, model[k])
			}
		}
		for k := range view {
			if _, ok := model[k]; !ok {
				t.Errorf("%s: member %s of the view is not in the model", pair.name, k)
			}
		}
	}
}

// filler sets every exported field of a value to a distinct value that is not zero, so a
// field the conversion forgets shows in the JSON.
type filler struct{ n int }

func (f *filler) fill(v reflect.Value) {
	f.n++
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, f.n%60, 0, time.UTC)))
		return
	case v.Type() == reflect.TypeFor[json.RawMessage]():
		v.Set(reflect.ValueOf(json.RawMessage(fmt.Sprintf(`{"n":%d}`, f.n))))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", f.n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(f.n))
	case reflect.Float64, reflect.Float32:
		v.SetFloat(float64(f.n) + 0.5)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem())
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			f.fill(s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			f.fill(k)
			f.fill(e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				f.fill(v.Field(i))
			}
		}
	default:
		panic(fmt.Sprintf("filler: no value for %s", v.Type()))
	}
}

// TestNewBatchViewSameJSON: the view of a batch is the batch's JSON byte for byte: with
// every member set, with none, and with empty lists and maps (which stay [] and {}, not
// null).
func TestNewBatchViewSameJSON(t *testing.T) {
	t.Parallel()
	var full jobs.Batch
	(&filler{}).fill(reflect.ValueOf(&full).Elem())
	if full.Trial == nil || len(full.Trial.Samples) == 0 || full.Trial.Samples[0].Checks == nil || full.Refresh == nil || full.Estimate == nil {
		t.Fatalf("filler left members empty: %+v", full)
	}
	empty := jobs.Batch{
		Counts: map[string]int{}, BadRowList: []jobs.BadRow{}, Columns: []string{},
		Trial: &jobs.Trial{Samples: []jobs.TrialSample{}, Failing: []jobs.TrialSample{}, Failures: map[string]int{}},
	}
	nilTrial := jobs.Batch{ID: "bat_1", Trial: &jobs.Trial{}}
	tests := []struct {
		name string
		b    jobs.Batch
	}{{"every member", full}, {"zero", jobs.Batch{}}, {"empty lists", empty}, {"trial with nil lists", nilTrial}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want, err := json.Marshal(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(newBatchView(tt.b))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("view JSON:\n got %s\nwant %s", got, want)
			}
			if tt.b.Trial != nil {
				tw, _ := json.Marshal(tt.b.Trial)
				tg, _ := json.Marshal(newTrialView(tt.b.Trial))
				if !bytes.Equal(tg, tw) {
					t.Errorf("trial view JSON:\n got %s\nwant %s", tg, tw)
				}
			}
			// And back: what a client decodes as a BatchView encodes to the same bytes.
			var back BatchView
			if err := json.Unmarshal(want, &back); err != nil {
				t.Fatalf("decode as BatchView: %v", err)
			}
			if again, _ := json.Marshal(back); !bytes.Equal(again, want) {
				t.Errorf("round trip:\n got %s\nwant %s", again, want)
			}
		})
	}
	if got, want := newBatchViews(nil), []BatchView(nil); !reflect.DeepEqual(got, want) {
		t.Errorf("views of nil: got %#v, want nil", got)
	}
	if got := newBatchViews([]jobs.Batch{}); got == nil || len(got) != 0 {
		t.Errorf("views of an empty list: got %#v, want an empty list", got)
	}
}
