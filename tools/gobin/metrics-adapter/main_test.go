package main

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const chartQuery = "avg(delta(nv_inference_queue_duration_us{<<.LabelMatchers>>}[<<.Window>>])" +
	"/(1+delta(nv_inference_request_success{<<.LabelMatchers>>}[<<.Window>>]))) by (<<.GroupBy>>)"

func chartRule(t *testing.T) rule {
	t.Helper()
	rules, err := parseRules(config{Metrics: []metricConfig{{Name: "queue_us", Query: chartQuery}}})
	if err != nil {
		t.Fatal(err)
	}
	return rules["queue_us"]
}

func TestTheChartQueryIsRestrictedToTheNamespaceAndPodsWithTheWindow(t *testing.T) {
	got, err := chartRule(t).render("ns-1", []string{"web-a", "web.b"}, 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	m := `namespace="ns-1",pod=~"web-a|web\\.b"`
	want := "avg(delta(nv_inference_queue_duration_us{" + m + "}[1500ms])" +
		"/(1+delta(nv_inference_request_success{" + m + "}[1500ms]))) by (pod)"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestBadConfigsAreRefusedWithTheReason(t *testing.T) {
	for _, tc := range []struct{ name, query, want string }{
		{"queue-us", "x{<<.LabelMatchers>>}", "not a metric name"},
		{"q", "sum(x) by (pod)", "must use <<.LabelMatchers>>"},
		{"q", "x{<<.LabelMatchers>>", ""}, // valid template, Prometheus would refuse it later
		{"q", "x{<<.LabelMatchers>>}<<", "unclosed"},
	} {
		_, err := parseRules(config{Metrics: []metricConfig{{Name: tc.name, Query: tc.query}}})
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: unexpected %v", tc.query, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.query, err, tc.want)
		}
	}
}

func TestWindowsArePrometheusDurations(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * time.Second: "30s", 1500 * time.Millisecond: "1500ms", 2 * time.Minute: "120s"} {
		if got, _ := promDuration(d); got != want {
			t.Errorf("%s: got %s, want %s", d, got, want)
		}
	}
	if _, err := promDuration(0); err == nil {
		t.Error("a zero window was accepted")
	}
}

// A local Prometheus stand-in: every failure mode the adapter must name, and a good answer.
func TestPrometheusAnswersAreDecodedOrRefusedWithTheirCause(t *testing.T) {
	var lastQuery string
	answers := map[string]struct {
		status int
		body   string
	}{
		"good":   {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1700000000.5,"12.5"]},{"metric":{"pod":"b"},"value":[1700000000.5,"NaN"]},{"metric":{"pod":"c"},"value":[1700000000.5,"+Inf"]},{"metric":{"pod":"other"},"value":[1700000000.5,"1"]}]}}`},
		"error":  {400, `{"status":"error","errorType":"bad_data","error":"parse error"}`},
		"html":   {502, `<html>bad gateway</html>`},
		"matrix": {200, `{"status":"success","data":{"resultType":"matrix","result":[]}}`},
		"nopod":  {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}`},
		"twice":  {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1,"1"]},{"metric":{"pod":"a"},"value":[1,"2"]}]}}`},
	}
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		lastQuery = form.Get("query")
		a := answers[lastQuery]
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	defer server.Close()
	client := newPromClient(server.URL + "/")
	ctx := context.Background()

	result, err := client.query(ctx, "good")
	if err != nil || lastQuery != "good" {
		t.Fatalf("good: %v (query %q)", err, lastQuery)
	}
	byPod, err := perPod(result, []string{"a", "b", "c", "d"})
	if err != nil {
		t.Fatal(err)
	}
	if len(byPod) != 1 || byPod["a"].Value != 12.5 || byPod["a"].At.UnixMilli() != 1700000000500 {
		t.Fatalf("only pod a has a usable value: %v", byPod)
	}
	if !math.IsNaN(result[1].Value) || !math.IsInf(result[2].Value, 1) {
		t.Fatalf("NaN and +Inf decode as such: %v", result)
	}

	for query, want := range map[string]string{
		"error": "HTTP 400: bad_data: parse error", "html": "HTTP 502", "matrix": `"matrix", not an instant vector`,
	} {
		if _, err := client.query(ctx, query); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", query, err, want)
		}
	}
	for query, want := range map[string]string{"nopod": "no \"pod\" label", "twice": "two series for pod a"} {
		result, err := client.query(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := perPod(result, []string{"a"}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", query, err, want)
		}
	}
	if _, err := newPromClient("http://127.0.0.1:1").query(ctx, "up"); err == nil {
		t.Error("a closed port gave no error")
	}
}
