{{/* Chart name, shortened to what a label value allows. */}}
{{- define "kappa-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release name alone when it already has the chart's. */}}
{{- define "kappa-operator.fullname" -}}
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

{{- define "kappa-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kappa-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kappa-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kappa-operator.labels" -}}
helm.sh/chart: {{ include "kappa-operator.chart" . }}
{{ include "kappa-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kappa-operator
{{- end }}

{{- define "kappa-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kappa-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kappa-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "kappa-operator.workerImage" -}}
{{- printf "%s:%s" .Values.workerImage.repository (default .Chart.AppVersion .Values.workerImage.tag) }}
{{- end }}

{{/* The Secret with the webhook's serving certificate (tls.crt, tls.key). */}}
{{- define "kappa-operator.webhookSecretName" -}}
{{- (.Values.webhook | default dict).existingSecret | default (printf "%s-webhook-tls" (include "kappa-operator.fullname" .)) }}
{{- end }}
