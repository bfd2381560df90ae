{{/* Labels on every object: kustomize's part-of, plus Helm's own. */}}
{{- define "csi-jfs.labels" -}}
app.kubernetes.io/part-of: csi-jfs
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "csi-jfs.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{/* Flags every csi-jfs container gets when not the program's defaults (and --metrics-address,
which each template adds with its port). */}}
{{- define "csi-jfs.commonArgs" -}}
{{- if ne .Values.driverName "jfs.csi.dev" }}
- --driver-name={{ .Values.driverName }}
{{- end }}
{{- if ne .Values.logFormat "text" }}
- --log-format={{ .Values.logFormat }}
{{- end }}
{{- if ne .Values.logLevel "info" }}
- --log-level={{ .Values.logLevel }}
{{- end }}
{{- end -}}

{{- define "csi-jfs.resources" -}}
{{- if . }}
resources: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}


{{/* KUBERNETES_SERVICE_HOST/PORT when the API server is reached directly. */}}
{{- define "csi-jfs.apiEnv" -}}
{{- if .Values.apiServer.host }}
- { name: KUBERNETES_SERVICE_HOST, value: {{ .Values.apiServer.host | quote }} }
- { name: KUBERNETES_SERVICE_PORT, value: {{ .Values.apiServer.port | quote }} }
{{- end }}
{{- end -}}

{{- define "csi-jfs.sidecarPullPolicy" -}}
{{- with .Values.sidecars.pullPolicy }}
imagePullPolicy: {{ . }}
{{- end }}
{{- end -}}
