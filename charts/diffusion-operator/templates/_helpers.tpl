{{/* Names and labels for every resource of the chart; nothing else builds a name. */}}

{{- define "diffusion-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "diffusion-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "diffusion-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "diffusion-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "diffusion-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Every object's labels but the component: the helm test pod names its own. */}}
{{- define "diffusion-operator.commonLabels" -}}
helm.sh/chart: {{ include "diffusion-operator.chart" . }}
{{ include "diffusion-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "diffusion-operator.labels" -}}
{{ include "diffusion-operator.commonLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "diffusion-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "diffusion-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "diffusion-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The `helm test` pod's image: the operator image unless test.image names another. */}}
{{- define "diffusion-operator.testImage" -}}
{{- if .Values.test.image.repository -}}
{{- printf "%s:%s" .Values.test.image.repository (default .Chart.AppVersion .Values.test.image.tag) -}}
{{- else -}}
{{- include "diffusion-operator.image" . -}}
{{- end -}}
{{- end -}}

{{/* kopf peering is on whenever more than one replica runs. */}}
{{- define "diffusion-operator.peering" -}}
{{- if gt (int .Values.replicaCount) 1 -}}true{{- end -}}
{{- end -}}

{{/* The operator's permissions: one list shared by the ClusterRole and the namespaced Roles. */}}
{{- define "diffusion-operator.rules" -}}
# DiffusionServices: watch them, record kopf's progress annotations, write status.
- apiGroups: ["diffusion.dev"]
  resources: ["diffusionservices"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["diffusion.dev"]
  resources: ["diffusionservices/status"]
  verbs: ["get", "patch"]
# Engine builds: shared Jobs, their plan ConfigMaps, the namespace's cache claim, the builder identity.
# A failed build OOMKilled under less memory than a build now gets is deleted to build again.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["configmaps", "persistentvolumeclaims"]
  verbs: ["get", "create", "patch"]
# The Triton Service; with minReplicas 0 also the activator's ServiceAccount and the backend Service
# (deleted when the service stops scaling to zero).
- apiGroups: [""]
  resources: ["serviceaccounts", "services"]
  verbs: ["get", "create", "patch", "delete"]
# The activator reads its own DiffusionService's status: its Role grants only that (the operator
# holds get on diffusionservices, so it may grant it).
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["get", "create", "patch", "delete"]
# Build and Triton pods are read to explain failures (termination messages, image pulls); the only
# change: the autoscaler's pod-deletion-cost on Triton pods before a scale-down (idle pods go first).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "patch"]
# Serving: the Triton Deployment (and its /scale for the autoscaler), PDB, ServiceMonitor.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# A stuck rollout's ReplicaSets: the revision to restore (read only; the Deployment does the rest).
- apiGroups: ["apps"]
  resources: ["replicasets"]
  verbs: ["list"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "create", "patch", "delete"]
# The optional NetworkPolicy in front of the Triton pods (spec.serving.networkPolicy; deleted when disabled).
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["get", "create", "patch", "delete"]
- apiGroups: ["monitoring.coreos.com"]
  resources: ["servicemonitors"]
  verbs: ["get", "create", "patch", "delete"]
# Events for every condition transition.
- apiGroups: ["", "events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if include "diffusion-operator.peering" . }}
# HA: kopf peering records.
- apiGroups: ["kopf.dev"]
  resources: ["kopfpeerings", "clusterkopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}
{{- end -}}
