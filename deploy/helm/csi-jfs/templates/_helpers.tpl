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

{{/* Flags every csi-jfs container gets when not the program's defaults. */}}
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

{{/* The injector's probes go to the address it listens on when that is not every address. */}}
{{- define "csi-jfs.injectorProbeHost" -}}
{{- if not (has . (list "" "0.0.0.0" "::")) }}
host: {{ . }}
{{- end }}
{{- end -}}

{{/* What both of the injector's webhooks share: where they call, for which requests... */}}
{{- define "csi-jfs.injectorWebhook" -}}
admissionReviewVersions: [v1]
clientConfig:
  service:
    name: csi-jfs-sidecar-injector
    namespace: {{ .Release.Namespace }}
    path: /mutate-pods
    port: {{ .Values.sidecarInjector.service.port }}
rules:
  - { operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [pods], scope: Namespaced }
{{- end -}}

{{/* ... and how: the pods that opt out, failing closed, a short timeout. */}}
{{- define "csi-jfs.injectorWebhookPolicy" -}}
objectSelector:
  matchExpressions:
    - { key: jfs.csi.dev/inject, operator: NotIn, values: [disabled, "false"] }
    - { key: disable.sidecar.juicefs.com/inject, operator: NotIn, values: ["true"] }
failurePolicy: {{ .Values.sidecarInjector.failurePolicy }}
sideEffects: NoneOnDryRun
timeoutSeconds: {{ .Values.sidecarInjector.timeoutSeconds }}
reinvocationPolicy: IfNeeded
matchPolicy: Equivalent
{{- end -}}
