package sdtest

import (
	"image"
	"net/http"
	"strings"
	"time"
)

// progressState is shared.state: global, describing whatever job runs.
// Like the WebUI's State, end() clears only job and job_count; the other
// fields keep their last values until the next begin().
type progressState struct {
	skipped, interrupted, stoppingGeneration bool
	job                                      string
	jobCount, jobNo                          int
	jobTimestamp                             string
	samplingStep, samplingSteps              int
	timeStart                                time.Time
	textinfo                                 *string
	currentImage                             image.Image
	currentImageStep                         int
	// idLivePreview counts the previews made, as State.id_live_preview.
	idLivePreview int
	// render draws the live preview of the running sampling at a step; nil
	// while there is no latent (before sampling, during extras).
	render func(step int) image.Image
	// renderGen changes with every sampling loop, so a preview rendered
	// for an old loop is dropped.
	renderGen int
}

// beginJob is state.begin(job=name).
func (s *Server) beginJob(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.st
	st.samplingStep = 0
	st.timeStart = time.Now()
	st.jobCount = -1
	st.jobNo = 0
	st.jobTimestamp = st.timeStart.Format("20060102150405")
	st.currentImage = nil
	st.currentImageStep = 0
	st.skipped = false
	st.interrupted = false
	st.stoppingGeneration = false
	st.textinfo = nil
	st.job = name
	st.render = nil
	st.renderGen++
}

// endJob is state.end().
func (s *Server) endJob() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.job = ""
	s.st.jobCount = 0
	s.st.render = nil
	s.st.renderGen++
}

// startSampling is the sampler's launch: steps to go, and the preview
// renderer for this loop.
func (s *Server) startSampling(steps int, render func(int) image.Image) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.samplingSteps = steps
	s.st.samplingStep = 0
	s.st.render = render
	s.st.renderGen++
}

// nextJob is state.nextjob().
func (s *Server) nextJob() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.jobNo++
	s.st.samplingStep = 0
	s.st.currentImageStep = 0
}

func (s *Server) setStep(k int) {
	s.mu.Lock()
	s.st.samplingStep = k
	s.mu.Unlock()
}

// takeFailure pops the next injected failure.
func (s *Server) takeFailure() (Failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) == 0 {
		return 0, false
	}
	f := s.failures[0]
	s.failures = s.failures[1:]
	return f, true
}

// stop says why a step wait ended early.
type stop int

const (
	stopNone stop = iota
	stopInterrupted
	stopSkipped
	stopClosed // the server closed
)

// waitStep waits out one step of StepLatency, or until an interrupt, a skip
// or Close. A hung step never finishes by itself; as in the WebUI, nothing
// notices a client that went away. honourSkip is false for jobs skip does
// not affect.
func (s *Server) waitStep(hang, honourSkip bool) stop {
	var timer <-chan time.Time
	if !hang {
		t := time.NewTimer(s.opts.StepLatency)
		defer t.Stop()
		timer = t.C
	}
	for {
		s.mu.Lock()
		interrupted, skipped := s.st.interrupted, s.st.skipped
		s.mu.Unlock()
		switch {
		case s.isClosed():
			return stopClosed
		case interrupted:
			return stopInterrupted
		case skipped && honourSkip:
			return stopSkipped
		}
		select {
		case <-timer:
			return stopNone
		case <-s.wake:
		case <-s.closed:
		}
	}
}

// failureErr is the error an injected OOM or RuntimeError raises. An OOM
// is counted in /memory and its allocation is never given back.
func (s *Server) failureErr(f Failure) *apiError {
	if f == FailOOM {
		s.mu.Lock()
		s.ooms++
		s.leaked += gb(1.11)
		s.mu.Unlock()
		return pyErr("OutOfMemoryError", "%s", "CUDA out of memory. Tried to allocate 1.11 GiB (GPU 0; 23.99 GiB total capacity; "+
			"21.48 GiB already allocated; 0 bytes free; 22.35 GiB reserved in total by PyTorch) If reserved memory is >> allocated "+
			"memory try setting max_split_size_mb to avoid fragmentation.  See documentation for Memory Management and PYTORCH_CUDA_ALLOC_CONF")
	}
	return pyErr("RuntimeError", "sdtest: injected RuntimeError")
}

func (s *Server) handleInterrupt(w http.ResponseWriter, r *http.Request, c *Call) {
	s.mu.Lock()
	s.st.interrupted = true
	s.mu.Unlock()
	s.poke()
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) handleSkip(w http.ResponseWriter, r *http.Request, c *Call) {
	s.mu.Lock()
	s.st.skipped = true
	s.mu.Unlock()
	s.poke()
	writeJSON(w, http.StatusOK, nil)
}

func (st *progressState) dict() object {
	return object{
		{"skipped", st.skipped},
		{"interrupted", st.interrupted},
		{"stopping_generation", st.stoppingGeneration},
		{"job", st.job},
		{"job_count", st.jobCount},
		{"job_timestamp", st.jobTimestamp},
		{"job_no", st.jobNo},
		{"sampling_step", st.samplingStep},
		{"sampling_steps", st.samplingSteps},
	}
}

// setCurrentImage is State.set_current_image: every
// show_progress_every_n_steps sampler steps (never with previews off) it
// renders a new live preview and counts it. It returns the current preview
// (nil if none) and its count.
func (s *Server) setCurrentImage() (image.Image, int) {
	s.mu.Lock()
	st := s.st
	every, _ := s.options["show_progress_every_n_steps"].(int64)
	live, _ := s.options["live_previews_enable"].(bool)
	refresh := s.opts.PreviewEvery > 0 && live && every != -1 && st.render != nil &&
		int64(st.samplingStep-st.currentImageStep) >= every
	s.mu.Unlock()
	if !refresh {
		return st.currentImage, st.idLivePreview
	}
	img := st.render(st.samplingStep)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.renderGen == st.renderGen {
		s.st.currentImage = img
		s.st.currentImageStep = st.samplingStep
		s.st.idLivePreview++
	}
	return s.st.currentImage, s.st.idLivePreview
}

// handleProgress is GET /progress, a copy of progressapi: 0 when no job
// runs; else 0.01 + job_no/job_count + the step fraction of one job, with a
// linear ETA and the live preview (set_current_image runs whether or not
// skip_current_image asks to leave the preview out).
func (s *Server) handleProgress(w http.ResponseWriter, r *http.Request, c *Call) {
	skip, ok := s.parseQueryBool(w, r, "skip_current_image", false)
	if !ok {
		return
	}
	s.mu.Lock()
	st := s.st
	s.mu.Unlock()
	if st.jobCount == 0 {
		writeJSON(w, http.StatusOK, object{
			{"progress", pyFloat(0)}, {"eta_relative", pyFloat(0)}, {"state", st.dict()},
			{"current_image", nil}, {"textinfo", st.textinfo},
		})
		return
	}
	progress := 0.01
	if st.jobCount > 0 {
		progress += float64(st.jobNo) / float64(st.jobCount)
	}
	if st.samplingSteps > 0 {
		progress += 1 / float64(st.jobCount) * float64(st.samplingStep) / float64(st.samplingSteps)
	}
	since := time.Since(st.timeStart).Seconds()
	eta := since/progress - since
	progress = min(progress, 1)
	img, _ := s.setCurrentImage()
	var current *string
	if img != nil && !skip {
		raw, err := s.encodeOutput(img)
		if err != nil {
			s.writeErr(w, err)
			return
		}
		enc := b64(raw)
		current = &enc
	}
	writeJSON(w, http.StatusOK, object{
		{"progress", pyFloat(progress)}, {"eta_relative", pyFloat(eta)}, {"state", st.dict()},
		{"current_image", current}, {"textinfo", st.textinfo},
	})
}

// encodeOutput is encode_pil_to_base64's byte stage, by samples_format
// (any case): png (the default, with the text chunks unless enable_pnginfo
// is off), jpg or jpeg (RGB at jpeg_quality: alpha dropped), webp (RGB:
// alpha dropped; the stand-in writes it lossless). Any other format is the
// WebUI's 500 "Invalid image format".
func (s *Server) encodeOutput(img image.Image, text ...[2]string) ([]byte, *apiError) {
	s.mu.Lock()
	format, _ := s.options["samples_format"].(string)
	quality, _ := s.options["jpeg_quality"].(int64)
	pnginfo, _ := s.options["enable_pnginfo"].(bool)
	s.mu.Unlock()
	switch strings.ToLower(format) {
	case "png":
		if !pnginfo {
			text = nil
		}
		return encodePNG(img, text...), nil
	case "jpg", "jpeg":
		if quality <= 0 || quality > 100 {
			quality = 80
		}
		return encodeJPEG(img, int(quality)), nil
	case "webp":
		return encodeWebP(img), nil
	}
	return nil, httpErr(http.StatusInternalServerError, "Invalid image format")
}

// samplesFormat is the samples_format option, lower-cased.
func (s *Server) samplesFormat() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, _ := s.options["samples_format"].(string)
	return strings.ToLower(f)
}
