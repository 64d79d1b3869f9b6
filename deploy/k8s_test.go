package deploy

// The Kubernetes manifests. kubeconform needs JSON schemas from the internet
// (it embeds none), so instead every document is decoded strictly into the
// real k8s.io/api types (and the ServiceMonitor into prometheus-operator's):
// an unknown or misspelt field, a wrong type or a bad quantity fails. Then the
// objects are checked against each other, as the cluster would use them.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	monv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// kustomization is the part of kustomize's Kustomization these files use;
// decoded strictly, so a field kustomize would not know fails here too.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
		IncludeTemplates bool              `json:"includeTemplates,omitempty"`
	} `json:"labels,omitempty"`
	Resources []string `json:"resources"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}

// object is one decoded manifest.
type object struct {
	File string
	Kind string
	Name string
	Meta metav1.ObjectMeta
	Obj  any
}

// bundle is what `kubectl apply -k DIR` would apply.
type bundle struct {
	Dir     string
	Objects []object
	Images  map[string]bool // image names the kustomizations rewrite
	Files   []string        // every file read
}

func (b *bundle) byKind(kind string) []object {
	var out []object
	for _, o := range b.Objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func (b *bundle) find(kind, name string) (object, bool) {
	for _, o := range b.Objects {
		if o.Kind == kind && o.Name == name {
			return o, true
		}
	}
	return object{}, false
}

// newObject returns the typed value for apiVersion and kind.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}, nil
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1 Secret":
		return &corev1.Secret{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, nil
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &monv1.ServiceMonitor{}, nil
	}
	return nil, fmt.Errorf("apiVersion %q kind %q: not a type this test knows; add it to newObject", apiVersion, kind)
}

// splitDocs splits a multi-document YAML file.
func splitDocs(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(b, []byte("\n---")) {
		d = bytes.TrimPrefix(d, []byte("\n"))
		if len(bytes.TrimSpace(stripComments(d))) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

func stripComments(b []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// decodeManifest decodes one document strictly into its Kubernetes type.
func decodeManifest(file string, doc []byte) (object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return object{}, fmt.Errorf("%s: %w", file, err)
	}
	obj, err := newObject(tm.APIVersion, tm.Kind)
	if err != nil {
		return object{}, fmt.Errorf("%s: %w", file, err)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return object{}, fmt.Errorf("%s: %s %w", file, tm.Kind, err)
	}
	meta := obj.(metav1.ObjectMetaAccessor).GetObjectMeta().(*metav1.ObjectMeta)
	return object{File: file, Kind: tm.Kind, Name: meta.Name, Meta: *meta, Obj: obj}, nil
}

// loadKustomization reads dir/kustomization.yaml and everything it lists.
func loadKustomization(t *testing.T, dir string) *bundle {
	t.Helper()
	b := &bundle{Dir: dir, Images: map[string]bool{}}
	var load func(dir string)
	load = func(dir string) {
		file := filepath.Join(dir, "kustomization.yaml")
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("read %s: %v", file, err)
		}
		b.Files = append(b.Files, file)
		var k kustomization
		if err := yaml.UnmarshalStrict(raw, &k); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
			t.Errorf("%s: got %s %s, want kustomize.config.k8s.io/v1beta1 Kustomization", file, k.APIVersion, k.Kind)
		}
		for _, img := range k.Images {
			b.Images[img.Name] = true
		}
		for _, res := range k.Resources {
			p := filepath.Join(dir, res)
			fi, err := os.Stat(p)
			if err != nil {
				t.Errorf("%s lists %s: %v", file, res, err)
				continue
			}
			if fi.IsDir() {
				load(p)
				continue
			}
			b.Files = append(b.Files, p)
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("read %s: %v", p, err)
			}
			for _, doc := range splitDocs(raw) {
				o, err := decodeManifest(p, doc)
				if err != nil {
					t.Error(err)
					continue
				}
				b.Objects = append(b.Objects, o)
			}
		}
	}
	load(dir)
	return b
}

func TestDecodeManifestIsStrict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		doc     string
		wantErr bool
	}{
		{"valid", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  A: b\n", false},
		{"unknown field", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndatta:\n  A: b\n", true},
		{"misspelt nested field", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          image: b\n          readinesProbe: {}\n", true},
		{"bad quantity", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          image: b\n          resources:\n            limits:\n              memory: 2 GB\n", true},
		{"wrong type", "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports:\n    - port: eighty\n", true},
		{"duplicate key", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  name: y\n", true},
		{"unknown kind", "apiVersion: v1\nkind: Pod2\nmetadata:\n  name: x\n", true},
		{"servicemonitor field", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: x\nspec:\n  selector: {}\n  endpoints:\n    - prot: http\n", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeManifest("test.yaml", []byte(tc.doc))
			if (err != nil) != tc.wantErr {
				t.Errorf("decodeManifest: got error %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	base := filepath.Join(root, "deploy", "k8s")
	seen := map[string]bool{}
	for _, tc := range []struct {
		dir         string
		deployments []string
	}{
		{base, []string{"pictor-api", "pictor-worker"}},
		{filepath.Join(base, "gpu"), []string{"pictor-api", "pictor-worker", "pictor-worker-gpu"}},
	} {
		rel, _ := filepath.Rel(root, tc.dir)
		t.Run(rel, func(t *testing.T) {
			b := loadKustomization(t, tc.dir)
			for _, f := range b.Files {
				seen[f] = true
			}
			var got []string
			for _, o := range b.byKind("Deployment") {
				got = append(got, o.Name)
			}
			sort.Strings(got)
			if !slices.Equal(got, tc.deployments) {
				t.Errorf("deployments: got %v, want %v", got, tc.deployments)
			}
			checkBundle(t, b)
		})
	}
	// No manifest lies around that no kustomization applies.
	err := filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) && !seen[p] {
			t.Errorf("%s: no kustomization.yaml lists it", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkBundle checks the objects of one kustomization against each other.
func checkBundle(t *testing.T, b *bundle) {
	t.Helper()
	for _, kind := range []string{"Namespace", "ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment",
		"HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor"} {
		if len(b.byKind(kind)) == 0 {
			t.Errorf("kinds: no %s", kind)
		}
	}
	names := map[string]bool{}
	for _, o := range b.Objects {
		key := o.Kind + "/" + o.Name
		if names[key] {
			t.Errorf("%s: %s defined twice", o.File, key)
		}
		names[key] = true
		for _, msg := range validation.IsDNS1123Subdomain(o.Name) {
			t.Errorf("%s: %s name %q: %s", o.File, o.Kind, o.Name, msg)
		}
		if o.Kind != "Namespace" && o.Meta.Namespace != "" {
			t.Errorf("%s: %s has namespace %q: leave it to kustomization.yaml", o.File, key, o.Meta.Namespace)
		}
		if o.Meta.Labels["app.kubernetes.io/name"] != "pictor" && o.Kind != "Namespace" {
			t.Errorf("%s: %s labels %v, want app.kubernetes.io/name=pictor", o.File, key, o.Meta.Labels)
		}
		checkLabels(t, o.File+" "+key, o.Meta.Labels)
	}

	// Settings: the ConfigMap and the Secret together carry issue 6's list,
	// secrets only in the Secret, and nothing pictor does not read.
	cm := mustFind[*corev1.ConfigMap](t, b, "ConfigMap", "pictor-config")
	sec := mustFind[*corev1.Secret](t, b, "Secret", "pictor-secrets")
	all := map[string]bool{"PICTOR_WORKERS": true} // from the CPU limit, per container
	for k := range cm.Data {
		all[k] = true
		checkSettingName(t, "ConfigMap pictor-config", k)
	}
	for k := range sec.StringData {
		all[k] = true
		checkSettingName(t, "Secret pictor-secrets", k)
	}
	for _, want := range requiredSettings {
		if !all[want] {
			t.Errorf("settings: %s is in neither pictor-config nor pictor-secrets", want)
		}
	}
	for _, secret := range []string{"PICTOR_DATABASE_URL", "PICTOR_S3_ACCESS_KEY", "PICTOR_S3_SECRET_KEY", "PICTOR_API_KEYS", "PICTOR_URL_SIGNING_KEY", "PICTOR_SESSION_SECRET"} {
		if _, ok := sec.StringData[secret]; !ok {
			t.Errorf("Secret pictor-secrets: %s missing", secret)
		}
		if _, ok := cm.Data[secret]; ok {
			t.Errorf("ConfigMap pictor-config holds %s: secrets belong in the Secret", secret)
		}
	}

	deps := b.byKind("Deployment")
	for _, o := range deps {
		checkDeployment(t, b, o)
	}
	// Deployments must not claim each other's pods.
	for _, a := range deps {
		sel := selectorOf(t, a.File, a.Obj.(*appsv1.Deployment).Spec.Selector)
		for _, other := range deps {
			if other.Name != a.Name && sel.Matches(labels.Set(other.Obj.(*appsv1.Deployment).Spec.Template.Labels)) {
				t.Errorf("Deployment %s's selector also matches the pods of %s", a.Name, other.Name)
			}
		}
	}
	podsOf := func(sel labels.Selector) []*appsv1.Deployment {
		var out []*appsv1.Deployment
		for _, o := range deps {
			d := o.Obj.(*appsv1.Deployment)
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				out = append(out, d)
			}
		}
		return out
	}

	for _, o := range b.byKind("Service") {
		svc := o.Obj.(*corev1.Service)
		matched := podsOf(labels.SelectorFromSet(svc.Spec.Selector))
		if len(svc.Spec.Selector) == 0 || len(matched) == 0 {
			t.Errorf("Service %s: selector %v matches no Deployment's pods", o.Name, svc.Spec.Selector)
		}
		for _, p := range svc.Spec.Ports {
			for _, d := range matched {
				if p.TargetPort.StrVal != "" && !hasContainerPort(d, p.TargetPort.StrVal) {
					t.Errorf("Service %s port %s: targetPort %q is no container port of %s", o.Name, p.Name, p.TargetPort.StrVal, d.Name)
				}
			}
		}
	}

	for _, o := range b.byKind("HorizontalPodAutoscaler") {
		h := o.Obj.(*autoscalingv2.HorizontalPodAutoscaler)
		ref := h.Spec.ScaleTargetRef
		target, ok := b.find(ref.Kind, ref.Name)
		if !ok || ref.APIVersion != "apps/v1" {
			t.Errorf("HPA %s: scaleTargetRef %+v is no Deployment here", o.Name, ref)
			continue
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			t.Errorf("HPA %s: got min %v max %d, want 2 <= min <= max", o.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		var cpu bool
		for _, m := range h.Spec.Metrics {
			if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
				m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil {
				cpu = true
			}
		}
		if !cpu {
			t.Errorf("HPA %s: no CPU utilization metric", o.Name)
		}
		for _, c := range target.Obj.(*appsv1.Deployment).Spec.Template.Spec.Containers {
			if c.Resources.Requests.Cpu().IsZero() {
				t.Errorf("HPA %s: container %s of %s has no CPU request, so utilization is undefined", o.Name, c.Name, ref.Name)
			}
		}
	}

	for _, o := range b.byKind("PodDisruptionBudget") {
		pdb := o.Obj.(*policyv1.PodDisruptionBudget)
		sel := selectorOf(t, o.File, pdb.Spec.Selector)
		if n := len(podsOf(sel)); n != 1 {
			t.Errorf("PDB %s: selector matches the pods of %d Deployments, want exactly 1", o.Name, n)
		}
		if (pdb.Spec.MaxUnavailable == nil) == (pdb.Spec.MinAvailable == nil) {
			t.Errorf("PDB %s: want exactly one of maxUnavailable and minAvailable", o.Name)
		}
	}
	for _, name := range []string{"pictor-api", "pictor-worker"} {
		if _, ok := b.find("HorizontalPodAutoscaler", name); !ok {
			t.Errorf("no HorizontalPodAutoscaler for %s", name)
		}
		if _, ok := b.find("PodDisruptionBudget", name); !ok {
			t.Errorf("no PodDisruptionBudget for %s", name)
		}
	}

	for _, o := range b.byKind("ServiceMonitor") {
		sm := o.Obj.(*monv1.ServiceMonitor)
		sel := selectorOf(t, o.File, &sm.Spec.Selector)
		var svcs []*corev1.Service
		for _, so := range b.byKind("Service") {
			if sel.Matches(labels.Set(so.Meta.Labels)) {
				svcs = append(svcs, so.Obj.(*corev1.Service))
			}
		}
		var got []string
		for _, s := range svcs {
			got = append(got, s.Name)
		}
		sort.Strings(got)
		if !slices.Equal(got, []string{"pictor-api", "pictor-worker"}) {
			t.Errorf("ServiceMonitor %s: selects Services %v, want pictor-api and pictor-worker (the job names alerts.yaml uses)", o.Name, got)
		}
		if len(sm.Spec.Endpoints) == 0 {
			t.Errorf("ServiceMonitor %s: no endpoints", o.Name)
		}
		for _, ep := range sm.Spec.Endpoints {
			if ep.Path != "/metrics" {
				t.Errorf("ServiceMonitor %s: path %q, want /metrics", o.Name, ep.Path)
			}
			for _, s := range svcs {
				if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
					t.Errorf("ServiceMonitor %s: port %q is no port of Service %s", o.Name, ep.Port, s.Name)
				}
			}
		}
	}
}

func mustFind[T any](t *testing.T, b *bundle, kind, name string) T {
	t.Helper()
	o, ok := b.find(kind, name)
	if !ok {
		t.Fatalf("no %s %s", kind, name)
	}
	return o.Obj.(T)
}

func selectorOf(t *testing.T, file string, ls *metav1.LabelSelector) labels.Selector {
	t.Helper()
	if ls == nil || (len(ls.MatchLabels) == 0 && len(ls.MatchExpressions) == 0) {
		t.Errorf("%s: empty selector (it would match everything)", file)
		return labels.Nothing()
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		t.Errorf("%s: selector: %v", file, err)
		return labels.Nothing()
	}
	return sel
}

func checkLabels(t *testing.T, where string, ls map[string]string) {
	t.Helper()
	for k, v := range ls {
		for _, msg := range validation.IsQualifiedName(k) {
			t.Errorf("%s: label key %q: %s", where, k, msg)
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			t.Errorf("%s: label %s value %q: %s", where, k, v, msg)
		}
	}
}

func hasContainerPort(d *appsv1.Deployment, name string) bool {
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

// readOnlyExempt are containers allowed a writable root filesystem, with the
// reason: AUTOMATIC1111 writes config, caches and outputs into its own tree.
var readOnlyExempt = map[string]bool{"webui": true}

func checkDeployment(t *testing.T, b *bundle, o object) {
	t.Helper()
	d := o.Obj.(*appsv1.Deployment)
	where := "Deployment " + d.Name
	sel := selectorOf(t, o.File, d.Spec.Selector)
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("%s: selector %v does not match its pod labels %v", where, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	checkLabels(t, where+" pod", d.Spec.Template.Labels)
	spec := d.Spec.Template.Spec
	if _, ok := b.find("ServiceAccount", spec.ServiceAccountName); !ok {
		t.Errorf("%s: serviceAccountName %q is no ServiceAccount here", where, spec.ServiceAccountName)
	}
	if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
		t.Errorf("%s: pod securityContext.runAsNonRoot: want true", where)
	}
	if spec.SecurityContext == nil || spec.SecurityContext.SeccompProfile == nil ||
		spec.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod seccompProfile: want RuntimeDefault (restricted Pod Security)", where)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	var pictors int
	for _, c := range spec.Containers {
		cw := where + " container " + c.Name
		if !b.Images[c.Image] {
			t.Errorf("%s: image %q is not in any kustomization's images (got %v)", cw, c.Image, sortedKeys(b.Images))
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
			if req.IsZero() || lim.IsZero() {
				t.Errorf("%s: resources %s: got request %v limit %v, want both", cw, r, req.String(), lim.String())
			} else if req.Cmp(lim) > 0 {
				t.Errorf("%s: resources %s: request %v above limit %v", cw, r, req.String(), lim.String())
			}
		}
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: securityContext: want allowPrivilegeEscalation false and capabilities drop ALL", cw)
		}
		ro := sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
		if !ro && !readOnlyExempt[c.Name] {
			t.Errorf("%s: securityContext.readOnlyRootFilesystem: want true", cw)
		}
		mounts := map[string]string{}
		for _, m := range c.VolumeMounts {
			mounts[m.MountPath] = m.Name
			if _, ok := volumes[m.Name]; !ok {
				t.Errorf("%s: mounts volume %q, which the pod does not define", cw, m.Name)
			}
		}
		if v, ok := volumes[mounts["/tmp"]]; !ok || v.EmptyDir == nil {
			t.Errorf("%s: /tmp: want an emptyDir mounted there", cw)
		}
		for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
			if p != nil && p.HTTPGet != nil && p.HTTPGet.Port.StrVal != "" && !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.HTTPGet.Port.StrVal }) {
				t.Errorf("%s: probe port %q is no port of the container", cw, p.HTTPGet.Port.StrVal)
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil {
				if _, ok := b.find("ConfigMap", ef.ConfigMapRef.Name); !ok {
					t.Errorf("%s: envFrom ConfigMap %q is not here", cw, ef.ConfigMapRef.Name)
				}
			}
			if ef.SecretRef != nil {
				if _, ok := b.find("Secret", ef.SecretRef.Name); !ok {
					t.Errorf("%s: envFrom Secret %q is not here", cw, ef.SecretRef.Name)
				}
			}
		}
		if c.Image != "pictor" {
			continue
		}
		pictors++
		if len(c.Args) == 0 || (c.Args[0] != "serve" && c.Args[0] != "worker") {
			t.Errorf("%s: args %q, want serve or worker", cw, c.Args)
		}
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			env[e.Name] = e
			checkSettingName(t, cw, e.Name)
			if rf := e.ValueFrom; rf != nil && rf.ResourceFieldRef != nil && rf.ResourceFieldRef.ContainerName != c.Name {
				t.Errorf("%s: %s reads the resources of container %q", cw, e.Name, rf.ResourceFieldRef.ContainerName)
			}
		}
		if e, ok := env["PICTOR_WORKERS"]; !ok || e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.cpu" {
			t.Errorf("%s: PICTOR_WORKERS: want it from the container's limits.cpu", cw)
		} else if d := e.ValueFrom.ResourceFieldRef.Divisor; d.MilliValue() != 500 {
			// Two libvips pipelines a core (imaging.SlotsPerCore), as Pictor's default.
			t.Errorf("%s: PICTOR_WORKERS: divisor %s, want 500m (two slots a core)", cw, d.String())
		}
		for name, e := range env {
			if strings.HasPrefix(name, "MALLOC_") {
				t.Errorf("%s: %s: got %+v, want no MALLOC_* variable (pictor tunes malloc itself; one here would override it)", cw, name, e)
			}
		}
		if !hasPort(c, "http", 8080) {
			t.Errorf("%s: want container port http 8080", cw)
		}
		for _, pc := range []struct {
			name  string
			probe *corev1.Probe
			path  string
		}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
			if pc.probe == nil || pc.probe.HTTPGet == nil || pc.probe.HTTPGet.Path != pc.path {
				t.Errorf("%s: %s probe: want GET %s", cw, pc.name, pc.path)
			}
		}
		if c.ReadinessProbe != nil && c.ReadinessProbe.TimeoutSeconds <= 5 {
			t.Errorf("%s: readiness timeout %ds: /readyz may take 5s before it answers, want more", cw, c.ReadinessProbe.TimeoutSeconds)
		}
	}
	if pictors != 1 {
		t.Errorf("%s: got %d pictor containers, want 1", where, pictors)
	}
}

func hasPort(c corev1.Container, name string, port int32) bool {
	return slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == name && p.ContainerPort == port })
}
