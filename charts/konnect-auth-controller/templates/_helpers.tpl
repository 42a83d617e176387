{{/* The chart name, for app.kubernetes.io/name. */}}
{{- define "kac.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every resource name: the release name when it contains the chart name (so that
`helm install konnect-auth-controller ...` gives the kustomize names), else RELEASE-NAME.
*/}}
{{- define "kac.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The name of the Lease (--leader-elect-id), which the leader-election Role names. */}}
{{- define "kac.leaseName" -}}
{{- include "kac.fullname" . -}}
{{- end -}}

{{- define "kac.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kac.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The labels that select the controller's Pods. */}}
{{- define "kac.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kac.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{/* Labels common to every object; component is added by each template. */}}
{{- define "kac.commonLabels" -}}
app.kubernetes.io/name: {{ include "kac.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: konnect-auth-controller
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "kac.labels" -}}
{{ include "kac.commonLabels" . }}
app.kubernetes.io/component: controller
{{- end -}}

{{/* The image reference: REPOSITORY:TAG, REPOSITORY:TAG@DIGEST or, without a tag, REPOSITORY@DIGEST. */}}
{{- define "kac.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
Checks across values that the schema cannot express; each fails the install with a message.
*/}}
{{- define "kac.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) -}}
{{- fail (printf "replicaCount is %d but leaderElection.enabled is false: more than one replica needs leader election, or every replica would write status" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not (and .Values.metrics.enabled .Values.metrics.service.enabled)) -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled and metrics.service.enabled: the ServiceMonitor scrapes the metrics Service" -}}
{{- end -}}
{{- if and .Values.metrics.prometheusRule.enabled (not .Values.metrics.enabled) -}}
{{- fail "metrics.prometheusRule.enabled needs metrics.enabled: the alerts are about the controller's metrics" -}}
{{- end -}}
{{- if and .Values.metrics.grafanaDashboard.enabled (not .Values.metrics.enabled) -}}
{{- fail "metrics.grafanaDashboard.enabled needs metrics.enabled: the dashboard shows the controller's metrics" -}}
{{- end -}}
{{- if eq (int .Values.metrics.port) (int .Values.healthProbePort) -}}
{{- fail (printf "metrics.port and healthProbePort are both %d" (int .Values.healthProbePort)) -}}
{{- end -}}
{{- end -}}
