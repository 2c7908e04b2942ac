{{/* Chart name, truncated to the 63 characters of a DNS-1123 label. */}}
{{- define "budeval.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release name, plus the chart name unless the release already contains it. */}}
{{- define "budeval.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "budeval.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of the service's own objects. (Run objects carry managed-by=budeval instead, set by
the service; the two never collide because these say managed-by=Helm.) */}}
{{- define "budeval.labels" -}}
helm.sh/chart: {{ include "budeval.chart" . }}
{{ include "budeval.selectorLabels" . }}
app.kubernetes.io/component: service
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "budeval.selectorLabels" -}}
app.kubernetes.io/name: {{ include "budeval.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "budeval.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "budeval.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Namespace of the evaluation runs: BUDEVAL_KUBE_NAMESPACE, else the release namespace. */}}
{{- define "budeval.runsNamespace" -}}
{{- default .Release.Namespace .Values.config.BUDEVAL_KUBE_NAMESPACE }}
{{- end }}

{{- define "budeval.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The data dir, where the data volume is mounted. */}}
{{- define "budeval.home" -}}
{{- .Values.config.BUDEVAL_HOME | default "/var/lib/budeval" }}
{{- end }}

{{/* Cluster-scoped names include the release namespace: two releases must not share them. */}}
{{- define "budeval.clusterRoleName" -}}
{{- printf "%s-%s" (include "budeval.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" }}
{{- end }}
