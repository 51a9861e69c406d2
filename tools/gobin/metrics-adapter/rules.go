package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"sigs.k8s.io/yaml"
)

// config is the --config file: the metrics this adapter serves.
//
//	metrics:
//	- name: queue_duration_us_per_request
//	  query: >-
//	    avg(delta(nv_inference_queue_duration_us{<<.LabelMatchers>>}[<<.Window>>])
//	    /(1+delta(nv_inference_request_success{<<.LabelMatchers>>}[<<.Window>>]))) by (<<.GroupBy>>)
type config struct {
	Metrics []metricConfig `json:"metrics"`
}

type metricConfig struct {
	Name  string `json:"name"`
	Query string `json:"query"`
}

// rule is one metric: its name in custom.metrics.k8s.io and its parsed query template.
type rule struct {
	Name  string
	query *template.Template
}

// templateArgs are what a query template may use; the names and the << >> delimiters are
// prometheus-adapter's (its metricsQuery), so a rule written for it reads the same here.
type templateArgs struct {
	LabelMatchers string // namespace="<ns>",pod=~"<pod>|<pod>"
	GroupBy       string // pod
	Window        string // the --window flag as a Prometheus duration, e.g. 30s
	Namespace     string
}

// Label names of the per-pod series, as Kubernetes service discovery and the ServiceMonitor
// relabelling write them.
const (
	namespaceLabel = "namespace"
	podLabel       = "pod"
)

var metricName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_:]*$`)

func loadRules(path string) (map[string]rule, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg config
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		return nil, err
	}
	return parseRules(cfg)
}

func parseRules(cfg config) (map[string]rule, error) {
	if len(cfg.Metrics) == 0 {
		return nil, fmt.Errorf("no metrics configured")
	}
	rules := make(map[string]rule, len(cfg.Metrics))
	for i, m := range cfg.Metrics {
		if !metricName.MatchString(m.Name) {
			return nil, fmt.Errorf("metrics[%d]: name %q is not a metric name", i, m.Name)
		}
		if _, dup := rules[m.Name]; dup {
			return nil, fmt.Errorf("metrics[%d]: %s is configured twice", i, m.Name)
		}
		if !strings.Contains(m.Query, "<<.LabelMatchers>>") {
			// Without the matchers the query would read every namespace's pods.
			return nil, fmt.Errorf("metrics[%d] (%s): query must use <<.LabelMatchers>>", i, m.Name)
		}
		tmpl, err := template.New(m.Name).Delims("<<", ">>").Option("missingkey=error").Parse(m.Query)
		if err != nil {
			return nil, fmt.Errorf("metrics[%d] (%s): %w", i, m.Name, err)
		}
		rules[m.Name] = rule{Name: m.Name, query: tmpl}
	}
	return rules, nil
}

// render fills the template for one namespace and an explicit list of pods.
func (r rule) render(namespace string, pods []string, window time.Duration) (string, error) {
	span, err := promDuration(window)
	if err != nil {
		return "", err
	}
	quoted := make([]string, len(pods))
	for i, pod := range pods {
		quoted[i] = regexp.QuoteMeta(pod)
	}
	args := templateArgs{
		LabelMatchers: fmt.Sprintf("%s=%s,%s=~%s", namespaceLabel, strconv.Quote(namespace),
			podLabel, strconv.Quote(strings.Join(quoted, "|"))),
		GroupBy:   podLabel,
		Window:    span,
		Namespace: namespace,
	}
	var out strings.Builder
	if err := r.query.Execute(&out, args); err != nil {
		return "", err
	}
	return out.String(), nil
}

// promDuration writes a positive duration as Prometheus reads it: whole seconds as "30s", else ms.
func promDuration(d time.Duration) (string, error) {
	if d < time.Millisecond {
		return "", fmt.Errorf("window %s is shorter than 1ms", d)
	}
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second), nil
	}
	return fmt.Sprintf("%dms", d/time.Millisecond), nil
}
