// Command metrics-adapter serves custom.metrics.k8s.io (v1beta2 and v1beta1) for Pods metrics,
// answered from Prometheus, so that kube-controller-manager's real HorizontalPodAutoscaler can scale
// on a PromQL query the way Triton's k8s-onprem chart does it.
//
// Why it exists: the chart's HPA reads its queue metric through prometheus-adapter, but
// sigs.k8s.io/prometheus-adapter cannot be fetched from the module proxy this project may use. This
// is the smallest adapter built from its library, sigs.k8s.io/custom-metrics-apiserver (the
// documented boilerplate: basecmd.AdapterBase plus a provider.CustomMetricsProvider), with
// prometheus-adapter's per-pod rule semantics:
//
//   - each metric is a name and a metricsQuery template (in a --config file), rendered with
//     <<.LabelMatchers>> (namespace="<ns>",pod=~"<pod>|<pod>|..."), <<.GroupBy>> (pod) and
//     <<.Window>> (the --window flag, e.g. 30s; a time-compressed benchmark shrinks it);
//   - the query must return one series per pod, labelled pod; a pod whose series is missing, NaN
//     or infinite is left out of the answer (the HPA then treats it as missing, conservatively);
//   - the pods asked for are listed from the API server (label selector of the request) first,
//     exactly as prometheus-adapter restricts its query to them.
//
// Authentication and authorization are delegated to the API server (the library's standard
// --authentication-kubeconfig/--authorization-kubeconfig flags); pods are listed with
// --lister-kubeconfig. Prometheus is read over its HTTP API with net/http and encoding/json only.
package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/dynamic"
	"k8s.io/component-base/logs"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"
	"k8s.io/metrics/pkg/apis/custom_metrics"

	"sigs.k8s.io/custom-metrics-apiserver/pkg/apiserver/metrics"
	basecmd "sigs.k8s.io/custom-metrics-apiserver/pkg/cmd"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider/helpers"
)

var podsResource = schema.GroupResource{Resource: "pods"}

// promProvider answers Pods metrics by running each metric's rendered query against Prometheus.
type promProvider struct {
	client  dynamic.Interface
	mapper  apimeta.RESTMapper
	prom    *promClient
	rules   map[string]rule
	window  time.Duration
	timeout time.Duration
}

var _ provider.CustomMetricsProvider = &promProvider{}

// podsMetric checks that a request is for a configured Pods metric and returns its rule.
func (p *promProvider) podsMetric(info provider.CustomMetricInfo, metricSelector labels.Selector) (rule, error) {
	normalized, _, err := info.Normalized(p.mapper)
	if err == nil {
		info = normalized
	}
	r, found := p.rules[info.Metric]
	if info.GroupResource != podsResource || !info.Namespaced || !found {
		return rule{}, provider.NewMetricNotFoundError(info.GroupResource, info.Metric)
	}
	if metricSelector != nil && !metricSelector.Empty() {
		return rule{}, apierrors.NewBadRequest("metric label selectors are not supported by this adapter")
	}
	return r, nil
}

// values runs the rule's query for these pods and returns each pod's sample (missing pods absent).
func (p *promProvider) values(ctx context.Context, r rule, namespace string, pods []string) (map[string]sample, error) {
	if len(pods) == 0 {
		return map[string]sample{}, nil
	}
	query, err := r.render(namespace, pods, p.window)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	result, err := p.prom.query(ctx, query)
	if err != nil {
		klog.ErrorS(err, "prometheus query failed", "metric", r.Name, "query", query)
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("metric %s: %v", r.Name, err))
	}
	byPod, err := perPod(result, pods)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("metric %s: %w", r.Name, err))
	}
	klog.V(2).InfoS("answered", "metric", r.Name, "namespace", namespace, "pods", len(pods), "values", len(byPod))
	return byPod, nil
}

func (p *promProvider) metricValue(name types.NamespacedName, info provider.CustomMetricInfo, s sample) (*custom_metrics.MetricValue, error) {
	ref, err := helpers.ReferenceFor(p.mapper, name, info)
	if err != nil {
		return nil, err
	}
	window := int64(p.window / time.Second)
	return &custom_metrics.MetricValue{
		DescribedObject: ref,
		Metric:          custom_metrics.MetricIdentifier{Name: info.Metric},
		Timestamp:       metav1.NewTime(s.At),
		WindowSeconds:   &window,
		// Milli-units, as prometheus-adapter does: queue times in microseconds keep 3 decimals.
		Value: *resource.NewMilliQuantity(int64(math.Round(s.Value*1000)), resource.DecimalSI),
	}, nil
}

func (p *promProvider) GetMetricByName(ctx context.Context, name types.NamespacedName, info provider.CustomMetricInfo, metricSelector labels.Selector) (*custom_metrics.MetricValue, error) {
	r, err := p.podsMetric(info, metricSelector)
	if err != nil {
		return nil, err
	}
	byPod, err := p.values(ctx, r, name.Namespace, []string{name.Name})
	if err != nil {
		return nil, err
	}
	s, found := byPod[name.Name]
	if !found {
		return nil, provider.NewMetricNotFoundForError(podsResource, info.Metric, name.Name)
	}
	return p.metricValue(name, info, s)
}

func (p *promProvider) GetMetricBySelector(ctx context.Context, namespace string, selector labels.Selector, info provider.CustomMetricInfo, metricSelector labels.Selector) (*custom_metrics.MetricValueList, error) {
	r, err := p.podsMetric(info, metricSelector)
	if err != nil {
		return nil, err
	}
	pods, err := helpers.ListObjectNames(p.mapper, p.client, namespace, selector, info)
	if err != nil {
		return nil, err
	}
	sort.Strings(pods)
	byPod, err := p.values(ctx, r, namespace, pods)
	if err != nil {
		return nil, err
	}
	items := make([]custom_metrics.MetricValue, 0, len(byPod))
	for _, pod := range pods {
		if s, found := byPod[pod]; found {
			value, err := p.metricValue(types.NamespacedName{Namespace: namespace, Name: pod}, info, s)
			if err != nil {
				return nil, err
			}
			items = append(items, *value)
		}
	}
	return &custom_metrics.MetricValueList{Items: items}, nil
}

func (p *promProvider) ListAllMetrics() []provider.CustomMetricInfo {
	infos := make([]provider.CustomMetricInfo, 0, len(p.rules))
	for name := range p.rules {
		infos = append(infos, provider.CustomMetricInfo{GroupResource: podsResource, Namespaced: true, Metric: name})
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Metric < infos[j].Metric })
	return infos
}

type adapter struct {
	basecmd.AdapterBase
	prometheusURL string
	configPath    string
	window        time.Duration
	queryTimeout  time.Duration
}

func main() {
	logs.InitLogs()
	defer logs.FlushLogs()

	cmd := &adapter{}
	cmd.Name = "diffusion-metrics-adapter"
	flags := cmd.Flags()
	flags.StringVar(&cmd.prometheusURL, "prometheus-url", "", "Prometheus base URL, e.g. http://127.0.0.1:9090")
	flags.StringVar(&cmd.configPath, "config", "", "YAML/JSON file: metrics: [{name, query}] (query is a template, see the package doc)")
	flags.DurationVar(&cmd.window, "window", 30*time.Second, "range the templates get as <<.Window>> (the chart uses 30s)")
	flags.DurationVar(&cmd.queryTimeout, "query-timeout", 5*time.Second, "timeout of one Prometheus query")
	logs.AddFlags(flags)
	if err := flags.Parse(os.Args); err != nil {
		klog.Fatalf("unable to parse flags: %v", err)
	}
	if cmd.prometheusURL == "" || cmd.configPath == "" {
		klog.Fatalf("--prometheus-url and --config are required")
	}
	rules, err := loadRules(cmd.configPath)
	if err != nil {
		klog.Fatalf("config %s: %v", cmd.configPath, err)
	}
	if _, err := promDuration(cmd.window); err != nil {
		klog.Fatalf("--window: %v", err)
	}
	client, err := cmd.DynamicClient()
	if err != nil {
		klog.Fatalf("unable to construct dynamic client: %v", err)
	}
	mapper, err := cmd.RESTMapper()
	if err != nil {
		klog.Fatalf("unable to construct discovery REST mapper: %v", err)
	}
	cmd.WithCustomMetrics(&promProvider{
		client: client, mapper: mapper, prom: newPromClient(cmd.prometheusURL),
		rules: rules, window: cmd.window, timeout: cmd.queryTimeout,
	})
	if err := metrics.RegisterMetrics(legacyregistry.Register); err != nil {
		klog.Fatalf("unable to register metrics: %v", err)
	}
	klog.InfoS("serving custom.metrics.k8s.io", "metrics", len(rules), "prometheus", cmd.prometheusURL, "window", cmd.window)
	if err := cmd.Run(genericapiserver.SetupSignalContext()); err != nil {
		klog.Fatalf("unable to run the metrics adapter: %v", err)
	}
}
