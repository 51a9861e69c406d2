package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// promClient runs instant queries against Prometheus's HTTP API (/api/v1/query).
type promClient struct {
	base string
	http *http.Client
}

func newPromClient(base string) *promClient {
	return &promClient{base: strings.TrimRight(base, "/"), http: &http.Client{}}
}

// series is one element of an instant vector: its labels, value and evaluation time.
type series struct {
	Labels map[string]string
	Value  float64
	At     time.Time
}

type sample struct {
	Value float64
	At    time.Time
}

type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  []json.RawMessage `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

// query POSTs the query (a long pod list would not fit a URL) and decodes an instant vector.
// Every failure mode is an error naming it: transport, non-2xx, status "error", a result that is
// not a vector, or a value that does not parse.
func (c *promClient) query(ctx context.Context, promql string) ([]series, error) {
	form := url.Values{"query": {promql}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/v1/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, err
	}
	return decode(resp.StatusCode, body)
}

func decode(status int, body []byte) ([]series, error) {
	var payload apiResponse
	if err := json.Unmarshal(body, &payload); err != nil {
		if status/100 != 2 {
			return nil, fmt.Errorf("prometheus answered HTTP %d", status)
		}
		return nil, fmt.Errorf("prometheus answer is not JSON: %w", err)
	}
	if status/100 != 2 || payload.Status != "success" {
		return nil, fmt.Errorf("prometheus answered HTTP %d: %s: %s", status, payload.ErrorType, payload.Error)
	}
	if payload.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query result is a %q, not an instant vector", payload.Data.ResultType)
	}
	out := make([]series, 0, len(payload.Data.Result))
	for _, r := range payload.Data.Result {
		if len(r.Value) != 2 {
			return nil, fmt.Errorf("sample %v is not [time, value]", r.Value)
		}
		var at float64
		var text string
		if err := json.Unmarshal(r.Value[0], &at); err != nil {
			return nil, fmt.Errorf("sample time: %w", err)
		}
		if err := json.Unmarshal(r.Value[1], &text); err != nil {
			return nil, fmt.Errorf("sample value: %w", err)
		}
		value, err := strconv.ParseFloat(text, 64) // Prometheus writes NaN, +Inf, -Inf as such
		if err != nil {
			return nil, fmt.Errorf("sample value %q: %w", text, err)
		}
		sec, frac := math.Modf(at)
		out = append(out, series{Labels: r.Metric, Value: value, At: time.Unix(int64(sec), int64(frac*1e9))})
	}
	return out, nil
}

// perPod keys a result by its pod label, keeping only the pods asked for. A series without a pod
// label means the query is not grouped by pod (a configuration error); two series for one pod are
// ambiguous and refused; NaN and infinite values are dropped, so that pod counts as missing.
func perPod(result []series, wanted []string) (map[string]sample, error) {
	asked := make(map[string]bool, len(wanted))
	for _, pod := range wanted {
		asked[pod] = true
	}
	byPod := make(map[string]sample, len(result))
	seen := make(map[string]bool, len(result))
	for _, s := range result {
		pod, found := s.Labels[podLabel]
		if !found {
			return nil, fmt.Errorf("a result series has no %q label (%v): group the query by (<<.GroupBy>>)", podLabel, s.Labels)
		}
		if seen[pod] {
			return nil, fmt.Errorf("two series for pod %s", pod)
		}
		seen[pod] = true
		if !asked[pod] || math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			continue
		}
		byPod[pod] = sample{Value: s.Value, At: s.At}
	}
	return byPod, nil
}
