{{/* Names are capped at 63 characters (DNS labels); the suffixes below add at most 25. */}}
{{- define "browserfleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "browserfleet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 38 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 38 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 38 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "browserfleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object of the release. */}}
{{- define "browserfleet.labels" -}}
helm.sh/chart: {{ include "browserfleet.chart" . }}
app.kubernetes.io/name: {{ include "browserfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: browserfleet
{{- end }}

{{/* Selector labels of one component: include "browserfleet.selectorLabels" (list . "operator") */}}
{{- define "browserfleet.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "browserfleet.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "browserfleet.componentLabels" -}}
{{ include "browserfleet.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "browserfleet.operatorServiceAccount" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (printf "%s-operator" (include "browserfleet.fullname" .)) .Values.operator.serviceAccount.name }}
{{- else }}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "browserfleet.gatewayServiceAccount" -}}
{{- if .Values.gateway.serviceAccount.create }}
{{- default (printf "%s-gateway" (include "browserfleet.fullname" .)) .Values.gateway.serviceAccount.name }}
{{- else }}
{{- required "gateway.serviceAccount.name is required when gateway.serviceAccount.create is false" .Values.gateway.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference: include "browserfleet.image" (list . .Values.image) */}}
{{- define "browserfleet.image" -}}
{{- $root := index . 0 }}
{{- $image := index . 1 }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{- define "browserfleet.sessionKeySecret" -}}
{{- default (printf "%s-session-key" (include "browserfleet.fullname" .)) .Values.sessionKey.existingSecret }}
{{- end }}

{{- define "browserfleet.leaseName" -}}
{{- printf "%s-operator" (include "browserfleet.fullname" .) }}
{{- end }}

{{- define "browserfleet.reportUrl" -}}
{{- default (printf "http://%s-operator.%s.svc:8082/v1/report" (include "browserfleet.fullname" .) .Release.Namespace) .Values.operator.reportUrl }}
{{- end }}

{{- define "browserfleet.gatewayServiceUrl" -}}
{{- $port := int .Values.gateway.service.port }}
{{- printf "http://%s-gateway.%s.svc%s" (include "browserfleet.fullname" .) .Release.Namespace (ternary "" (printf ":%d" $port) (eq $port 80)) }}
{{- end }}

{{- define "browserfleet.publicUrl" -}}
{{- if .Values.gateway.publicUrl }}
{{- .Values.gateway.publicUrl }}
{{- else if and .Values.gateway.ingress.enabled .Values.gateway.ingress.host }}
{{- printf "%s://%s" (ternary "https" "http" .Values.gateway.ingress.tls.enabled) .Values.gateway.ingress.host }}
{{- else }}
{{- include "browserfleet.gatewayServiceUrl" . }}
{{- end }}
{{- end }}

{{/* A project's namespace (empty = the release namespace). */}}
{{- define "browserfleet.projectNamespace" -}}
{{- $root := index . 0 }}
{{- $project := index . 1 }}
{{- default $root.Release.Namespace $project.namespace }}
{{- end }}

{{/* The Secret holding a project's API key. */}}
{{- define "browserfleet.apiKeySecret" -}}
{{- $root := index . 0 }}
{{- $project := index . 1 }}
{{- if and $project.apiKey $project.apiKey.existingSecret }}
{{- $project.apiKey.existingSecret }}
{{- else }}
{{- printf "%s-%s-api-key" (include "browserfleet.fullname" $root) $project.name | trunc 253 }}
{{- end }}
{{- end }}

{{- define "browserfleet.apiKeyKey" -}}
{{- $project := . }}
{{- default "apiKey" (and $project.apiKey $project.apiKey.key) }}
{{- end }}

{{/*
Session namespaces: the projects' namespaces and rbac.extraSessionNamespaces, without duplicates, as a JSON
list (templates fromJsonArray it). The operator and the gateway get their session rights here, and browser pods
their NetworkPolicy.
*/}}
{{- define "browserfleet.sessionNamespaces" -}}
{{- $out := list }}
{{- range .Values.projects }}
{{- $out = append $out (include "browserfleet.projectNamespace" (list $ .)) }}
{{- end }}
{{- range .Values.rbac.extraSessionNamespaces }}
{{- $out = append $out . }}
{{- end }}
{{- $out | uniq | sortAlpha | toJson }}
{{- end }}

{{/* API key Secret names the gateway may read in one namespace, as a JSON list. */}}
{{- define "browserfleet.apiKeySecretsIn" -}}
{{- $root := index . 0 }}
{{- $ns := index . 1 }}
{{- $out := list }}
{{- range $root.Values.projects }}
{{- if eq (include "browserfleet.projectNamespace" (list $root .)) $ns }}
{{- $out = append $out (include "browserfleet.apiKeySecret" (list $root .)) }}
{{- end }}
{{- end }}
{{- range $root.Values.rbac.extraApiKeySecrets }}
{{- $out = append $out . }}
{{- end }}
{{- $out | uniq | sortAlpha | toJson }}
{{- end }}

{{/* Values checks the schema cannot express. */}}
{{- define "browserfleet.validate" -}}
{{- if and (gt (int .Values.operator.replicas) 1) (not .Values.operator.leaderElection.enabled) }}
{{- fail "operator.leaderElection.enabled must be true when operator.replicas > 1: two operators would both admit and end sessions" }}
{{- end }}
{{- $le := .Values.operator.leaderElection }}
{{- if not (lt (int $le.renewDeadlineSeconds) (int $le.leaseDurationSeconds)) }}
{{- fail "operator.leaderElection.renewDeadlineSeconds must be less than leaseDurationSeconds" }}
{{- end }}
{{- if gt (int $le.retryPeriodSeconds) (int $le.renewDeadlineSeconds) }}
{{- fail "operator.leaderElection.retryPeriodSeconds must not exceed renewDeadlineSeconds" }}
{{- end }}
{{- $names := list }}
{{- range .Values.projects }}
{{- if has .name $names }}
{{- fail (printf "projects: the name %q appears twice (BrowserProjects are cluster-scoped, names are unique)" .name) }}
{{- end }}
{{- $names = append $names .name }}
{{- if and (hasKey . "defaultTimeout") (hasKey . "maxTimeout") (gt (int .defaultTimeout) (int .maxTimeout)) }}
{{- fail (printf "projects[%s]: defaultTimeout (%v) must not exceed maxTimeout (%v)" .name .defaultTimeout .maxTimeout) }}
{{- end }}
{{- if and $.Values.watchNamespace (ne (include "browserfleet.projectNamespace" (list $ .)) $.Values.watchNamespace) }}
{{- fail (printf "projects[%s]: namespace %q is not watchNamespace %q: its sessions would never be served" .name (include "browserfleet.projectNamespace" (list $ .)) $.Values.watchNamespace) }}
{{- end }}
{{- end }}
{{- if and .Values.gateway.ingress.enabled (not .Values.gateway.ingress.host) }}
{{- fail "gateway.ingress.host is required when gateway.ingress.enabled is true" }}
{{- end }}
{{- if and .Values.gateway.ingress.tls.enabled (not .Values.gateway.ingress.tls.secretName) }}
{{- fail "gateway.ingress.tls.secretName is required when gateway.ingress.tls.enabled is true" }}
{{- end }}
{{- end }}

{{/* The global imagePullSecrets as a JSON list of names, for the browser pods the operator creates. */}}
{{- define "browserfleet.pullSecretNames" -}}
{{- $names := list }}
{{- range .Values.imagePullSecrets }}{{ $names = append $names .name }}{{ end }}
{{- toJson $names }}
{{- end }}
