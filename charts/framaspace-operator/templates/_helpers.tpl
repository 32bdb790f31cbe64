{{/* Names and labels shared by the templates. */}}
{{- define "framaspace-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "framaspace-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "framaspace-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "framaspace-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "framaspace-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "framaspace-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "framaspace-operator.serviceAccountName" -}}
{{- default (include "framaspace-operator.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The ClusterRole bound in each space namespace for its Secrets. */}}
{{- define "framaspace-operator.secretAccessRole" -}}
{{- printf "%s-space-secrets" (include "framaspace-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
