// Command overload holds Pictor's listing path under more clients than it has cores for a
// while and checks how it behaves: every answer must be a 2xx, or a 429 or 503 with
// Retry-After (no other status, no dropped connection, no request left hanging past
// -timeout), its resident memory must stay bounded, and once the load stops it must answer
// at once, as fast as before the load.
//
// It starts `pictor serve` itself (on the embedded default: SQLite and a local directory, in
// a temporary data directory) with the environment given by -env, serves generated JPEG
// product shots from memory on a loopback port, and sends POST /v1/images {"url", "recipe"}
// from -c clients for -duration; every request carries an inline recipe of its own (a
// distinct output name), so nothing is answered from the rendition cache. It prints one
// markdown table row:
//
//	| mode | clients | seconds | answers | 2xx | 429 | 503 | other | rate 2xx/s | p99 ms | peak RSS MiB | RSS at end MiB | latency before / after ms |
//
//	go run ./benchmarks/overload -pictor bin/pictor -c 64 -duration 5m
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "overload:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("overload", flag.ContinueOnError)
	bin := fs.String("pictor", "", "the pictor binary (required)")
	clients := fs.Int("c", 64, "concurrent clients")
	duration := fs.Duration("duration", 5*time.Minute, "how long the load lasts")
	timeout := fs.Duration("timeout", 60*time.Second, "longest a request may take before it counts as hung")
	mode := fs.String("mode", "defaults", "a name for the row")
	env := fs.String("env", "", "extra PICTOR_ settings for the server, comma separated (e.g. PICTOR_RATE_LIMIT=0)")
	width := fs.Int("width", 2560, "source width")
	height := fs.Int("height", 1600, "source height")
	header := fs.Bool("header", false, "print the table's header first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bin == "" {
		return errors.New("-pictor is required")
	}
	sources, err := shots(8, *width, *height)
	if err != nil {
		return err
	}
	srcURL, stopSrc, err := serveSources(sources)
	if err != nil {
		return err
	}
	defer stopSrc()
	srv, err := startPictor(*bin, *env, stderr)
	if err != nil {
		return err
	}
	defer srv.stop()

	var seq atomic.Int64
	post := func(ctx context.Context) (int, http.Header, error) {
		n := seq.Add(1)
		body, _ := json.Marshal(map[string]any{
			"url": fmt.Sprintf("%s/%d.jpg", srcURL, n%int64(len(sources))),
			"sku": fmt.Sprintf("OV-%d", n),
			"recipe": map[string]any{"steps": []any{map[string]any{"op": "resize", "width": 800, "height": 800, "fit": "inside"}},
				"outputs": []any{map[string]any{"name": "main-" + strconv.FormatInt(n, 36), "format": "jpeg", "quality": 80}}},
		})
		req, err := http.NewRequestWithContext(ctx, "POST", srv.url+"/v1/images", bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header, nil
	}
	// latency is the median of five requests one at a time, each needing a 201. A 429 or 503
	// (the load's clients may have emptied this address's rate-limit bucket) is retried
	// once after its Retry-After, which must be at most 2 s.
	latency := func() (time.Duration, error) {
		var ds []time.Duration
		for range 5 {
			ctx, cancel := context.WithTimeout(context.Background(), *timeout)
			t := time.Now()
			code, h, err := post(ctx)
			if err == nil && (code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable) {
				wait, _ := strconv.Atoi(h.Get("Retry-After"))
				if wait < 1 || wait > 2 {
					cancel()
					return 0, fmt.Errorf("a request alone: %d with Retry-After %q", code, h.Get("Retry-After"))
				}
				time.Sleep(time.Duration(wait) * time.Second)
				t = time.Now()
				code, _, err = post(ctx)
			}
			cancel()
			if err != nil || code != http.StatusCreated {
				return 0, fmt.Errorf("a request alone: %d %v", code, err)
			}
			ds = append(ds, time.Since(t))
		}
		slices.Sort(ds)
		return ds[2], nil
	}
	before, err := latency()
	if err != nil {
		return fmt.Errorf("before the load: %w", err)
	}

	var (
		mu      sync.Mutex
		codes   = map[int]int{}
		other   []string
		okTimes []time.Duration
	)
	peak, rssStop := watchRSS(srv.cmd.Process.Pid)
	end := time.Now().Add(*duration)
	var wg sync.WaitGroup
	for range *clients {
		wg.Go(func() {
			for time.Now().Before(end) {
				ctx, cancel := context.WithTimeout(context.Background(), *timeout)
				t := time.Now()
				code, h, err := post(ctx)
				d := time.Since(t)
				cancel()
				mu.Lock()
				switch {
				case err != nil:
					other = append(other, err.Error())
				case code >= 200 && code < 300:
					codes[code]++
					okTimes = append(okTimes, d)
				case (code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable) && h.Get("Retry-After") != "":
					codes[code]++
				default:
					codes[code]++
					other = append(other, fmt.Sprintf("status %d (Retry-After %q)", code, h.Get("Retry-After")))
				}
				mu.Unlock()
				if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
					// A well-behaved client waits as told, briefly.
					if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s > 0 {
						time.Sleep(min(time.Duration(s)*time.Second, time.Until(end)))
					}
				}
			}
		})
	}
	wg.Wait()
	seconds := duration.Seconds()
	rssEnd := rssMiB(srv.cmd.Process.Pid)
	after, err := latency()
	rssStop()
	if err != nil {
		return fmt.Errorf("after the load: %w", err)
	}

	ok := 0
	for c, n := range codes {
		if c >= 200 && c < 300 {
			ok += n
		}
	}
	total := ok + codes[429] + codes[503] + len(other)
	p99 := 0.0
	if len(okTimes) > 0 {
		slices.Sort(okTimes)
		p99 = float64(okTimes[len(okTimes)*99/100].Milliseconds())
	}
	if *header {
		fmt.Fprintln(stdout, "| mode | clients | seconds | answers | 2xx | 429 | 503 | other | rate 2xx/s | p99 ms (2xx) | peak RSS MiB | RSS at end MiB | latency alone before / after ms |")
		fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	}
	fmt.Fprintf(stdout, "| %s | %d | %.0f | %d | %d | %d | %d | %d | %.1f | %.0f | %.0f | %.0f | %d / %d |\n",
		*mode, *clients, seconds, total, ok, codes[429], codes[503], len(other), float64(ok)/seconds, p99,
		peak(), rssEnd, before.Milliseconds(), after.Milliseconds())
	if len(other) > 0 {
		slices.Sort(other)
		return fmt.Errorf("%d answers were neither 2xx nor 429/503 with Retry-After, e.g. %s", len(other), strings.Join(slices.Compact(other)[:min(5, len(slices.Compact(other)))], "; "))
	}
	if after > 3*before+500*time.Millisecond {
		return fmt.Errorf("after the load a request alone took %v, before it %v: not recovered", after, before)
	}
	return nil
}

// shots makes n distinct product shots: an object on an off-white backdrop with noise.
func shots(n, w, h int) ([][]byte, error) {
	var out [][]byte
	for i := range n {
		r := rand.New(rand.NewPCG(uint64(i), 7))
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		cx, cy, rad := w/2+r.IntN(w/8), h/2+r.IntN(h/8), min(w, h)/3
		tint := color.RGBA{uint8(40 + r.IntN(150)), uint8(40 + r.IntN(150)), uint8(40 + r.IntN(150)), 255}
		for y := range h {
			for x := range w {
				c := color.RGBA{245, 244, 242, 255}
				if dx, dy := x-cx, y-cy; dx*dx+dy*dy < rad*rad {
					c = tint
					c.R += uint8((x + y) % 16)
				}
				d := uint8(r.IntN(6))
				img.SetRGBA(x, y, color.RGBA{c.R - d, c.G - d, c.B - d, 255})
			}
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
			return nil, err
		}
		out = append(out, b.Bytes())
	}
	return out, nil
}

// serveSources serves sources[i] as /i.jpg on a loopback port.
func serveSources(sources [][]byte) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), ".jpg"))
		if err != nil || i < 0 || i >= len(sources) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(sources[i])
	})}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

type pictor struct {
	cmd  *exec.Cmd
	url  string
	data string
}

// startPictor runs `pictor serve` on a free loopback port and a fresh data directory, and
// waits (up to a minute) until /readyz answers 200.
func startPictor(bin, env string, stderr io.Writer) (*pictor, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	data, err := os.MkdirTemp("", "pictor-overload-*")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "PICTOR_ADDR="+addr, "PICTOR_DATA_DIR="+data, "PICTOR_FETCH_ALLOWED_NETS=127.0.0.0/8")
	for _, kv := range strings.Split(env, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(data)
		return nil, err
	}
	p := &pictor{cmd: cmd, url: "http://" + addr, data: data}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("pictor not ready in a minute: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *pictor) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(p.data)
}

// watchRSS samples pid's resident set every 200 ms; peak returns the highest seen (and the
// kernel's own high-water mark, whichever is higher), in MiB.
func watchRSS(pid int) (peak func() float64, stop func()) {
	var mu sync.Mutex
	high := 0.0
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				v := rssMiB(pid)
				mu.Lock()
				high = max(high, v)
				mu.Unlock()
			}
		}
	})
	return func() float64 {
			mu.Lock()
			defer mu.Unlock()
			return max(high, statusMiB(pid, "VmHWM:"))
		}, func() {
			close(done)
			wg.Wait()
		}
}

func rssMiB(pid int) float64 { return statusMiB(pid, "VmRSS:") }

// statusMiB reads a kB field of /proc/pid/status, in MiB.
func statusMiB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
