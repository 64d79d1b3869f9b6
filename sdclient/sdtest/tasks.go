package sdtest

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxFinishedTasks is how many finished task ids the WebUI remembers (16).
const maxFinishedTasks = 16

// taskState is modules/progress.py's bookkeeping: the task being worked on,
// the queued ones and the last finished ones. It is global, like the
// progress state, and guarded by Server.mu.
type taskState struct {
	current  string               // current_task; "" is None
	pending  map[string]time.Time // pending_tasks: id -> time queued
	finished []string             // finished_tasks, oldest first
}

// createTaskID is create_task_id: "task(<kind>-<7 random letters or digits>)".
func createTaskID(kind string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b strings.Builder
	for range 7 {
		b.WriteByte(alphabet[rand.IntN(len(alphabet))])
	}
	return "task(" + kind + "-" + b.String() + ")"
}

// queueTask is add_task_to_queue: called before the queue lock is taken.
func (s *Server) queueTask(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tasks.pending == nil {
		s.tasks.pending = map[string]time.Time{}
	}
	s.tasks.pending[id] = time.Now()
}

// startTask is start_task: the task becomes current and leaves the queue.
func (s *Server) startTask(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tasks.current = id
	delete(s.tasks.pending, id)
}

// finishTask is finish_task. Like the WebUI, the handlers call it only when
// processing returned; a task that raised stays current until the next one
// starts.
func (s *Server) finishTask(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tasks.current == id {
		s.tasks.current = ""
	}
	s.tasks.finished = append(s.tasks.finished, id)
	if len(s.tasks.finished) > maxFinishedTasks {
		s.tasks.finished = s.tasks.finished[1:]
	}
}

// internalProgressFields are modules/progress.py's ProgressRequest.
func internalProgressFields() []field {
	return []field{
		{name: "id_task", kind: kStr, nullable: true},
		{name: "id_live_preview", kind: kInt, def: int64(-1)},
		{name: "live_preview", kind: kBool, def: true},
	}
}

// handleInternalProgress is the UI's POST /internal/progress (progressapi):
// whether the task is current (active), queued or among the last finished;
// for the current task also the progress of its job, an ETA and the live
// preview as a data: URI when it changed since id_live_preview. Its numbers
// describe the task asked about, not whatever runs.
func (s *Server) handleInternalProgress(w http.ResponseWriter, r *http.Request, c *Call) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	v, ok := s.parseBody(w, r, body, internalProgressFields(), false)
	if !ok {
		return
	}
	id, hasID := v["id_task"].(string)
	s.mu.Lock()
	active := hasID && id == s.tasks.current && s.tasks.current != ""
	queuedAt, queued := s.tasks.pending[id]
	completed := slices.Contains(s.tasks.finished, id)
	var order []time.Time
	for _, t := range s.tasks.pending {
		order = append(order, t)
	}
	st := s.st
	s.mu.Unlock()
	if !active {
		text := "Waiting..."
		if queued {
			pos := 1
			for _, t := range order {
				if t.Before(queuedAt) {
					pos++
				}
			}
			text = "In queue: " + strconv.Itoa(pos) + "/" + strconv.Itoa(len(order))
		}
		writeJSON(w, http.StatusOK, object{
			{"active", false}, {"queued", queued}, {"completed", completed},
			{"progress", nil}, {"eta", nil}, {"live_preview", nil},
			{"id_live_preview", int64(-1)}, {"textinfo", text},
		})
		return
	}
	progress := 0.0
	if st.jobCount > 0 {
		progress += float64(st.jobNo) / float64(st.jobCount)
		if st.samplingSteps > 0 {
			progress += 1 / float64(st.jobCount) * float64(st.samplingStep) / float64(st.samplingSteps)
		}
	}
	progress = min(progress, 1)
	var eta any
	if progress > 0 {
		elapsed := time.Since(st.timeStart).Seconds()
		eta = pyFloat(elapsed/progress - elapsed)
	}
	idPreview := v.int("id_live_preview")
	var preview any
	s.mu.Lock()
	live, _ := s.options["live_previews_enable"].(bool)
	s.mu.Unlock()
	if live && v.bool("live_preview") {
		img, n := s.setCurrentImage()
		if img != nil && int64(n) != idPreview {
			preview = "data:image/png;base64," + b64(encodePNG(img))
			idPreview = int64(n)
		}
	}
	writeJSON(w, http.StatusOK, object{
		{"active", true}, {"queued", queued}, {"completed", completed},
		{"progress", pyFloat(progress)}, {"eta", eta}, {"live_preview", preview},
		{"id_live_preview", idPreview}, {"textinfo", st.textinfo},
	})
}

// handlePing is the UI's GET /internal/ping.
func (s *Server) handlePing(w http.ResponseWriter, r *http.Request, c *Call) {
	writeJSON(w, http.StatusOK, map[string]any{})
}

// handleSDVAE is A1111's GET /sdapi/v1/sd-vae: the stand-in has no VAE
// files.
func (s *Server) handleSDVAE(w http.ResponseWriter, r *http.Request, c *Call) {
	writeJSON(w, http.StatusOK, []any{})
}

// handleSDModules is Forge's GET /sdapi/v1/sd-modules, which replaces
// /sd-vae: VAEs and text encoders found in the models folders.
func (s *Server) handleSDModules(w http.ResponseWriter, r *http.Request, c *Call) {
	writeJSON(w, http.StatusOK, []object{
		{{"model_name", "ae.safetensors"}, {"filename", "/stable-diffusion-webui-forge/models/VAE/ae.safetensors"}},
		{{"model_name", "clip_l.safetensors"}, {"filename", "/stable-diffusion-webui-forge/models/text_encoder/clip_l.safetensors"}},
	})
}
