{{- /* The Job's spec (empty when there is nothing to run); its hash names the Job. */}}
{{- define "parley.schemaJobSpec" -}}
{{- $steps := list }}
{{- range (include "parley.migratingServices" . | fromJsonArray) }}
{{- $steps = append $steps (dict "service" . "arg" "migrate") }}
{{- end }}
{{- if .Values.message.enabled }}
{{- $steps = append $steps (dict "service" "message" "arg" "topics") }}
{{- end }}
{{- if $steps }}
{{- $targets := list }}
{{- range (splitList "," (include "parley.cassandraContactPoints" .)) }}
{{- $t := trim . }}{{ $targets = append $targets (ternary $t (printf "%s:9042" $t) (contains ":" $t)) }}
{{- end }}
{{- range (splitList "," (include "parley.kafkaBrokers" .)) }}
{{- $targets = append $targets (trim .) }}
{{- end }}
{{- $shared := include "parley.storeEnv" (dict "root" . "stores" (list "cassandra" "kafka" "redis" "minio") "inline" true) }}
{{- $last := sub (len $steps) 1 | int }}
spec:
  backoffLimit: {{ .Values.schema.backoffLimit }}
  activeDeadlineSeconds: {{ .Values.schema.activeDeadlineSeconds }}
  template:
    metadata:
      labels:
        {{- include "parley.labels" (dict "root" . "component" "schema") | nindent 8 }}
    spec:
      restartPolicy: OnFailure
      automountServiceAccountToken: false
      enableServiceLinks: false
      securityContext:
        {{- toYaml .Values.global.podSecurityContext | nindent 8 }}
      {{- with .Values.global.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.infra.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      initContainers:
        - name: wait-for-servers
          image: {{ include "parley.image" (dict "root" . "name" (index $steps 0).service) }}
          imagePullPolicy: {{ .Values.global.image.pullPolicy }}
          command: ["node", "--input-type=module", "-e", {{ .Files.Get "files/wait-for-tcp.mjs" | quote }}, "--"{{ range $targets }}, {{ . | quote }}{{ end }}]
          securityContext:
            {{- toYaml .Values.global.containerSecurityContext | nindent 12 }}
          resources:
            requests: {cpu: 10m, memory: 32Mi}
            limits: {memory: 96Mi}
      {{- range $i, $step := $steps }}
      {{- if eq $i $last }}
      containers:
      {{- end }}
        - name: {{ $step.arg }}-{{ $step.service }}
          image: {{ include "parley.image" (dict "root" $ "name" $step.service) }}
          imagePullPolicy: {{ $.Values.global.image.pullPolicy }}
          args: [{{ $step.arg | quote }}]
          env:
            {{- $shared | nindent 12 }}
            {{- range $k, $val := (index $.Values $step.service).env | default dict }}
            - name: {{ $k }}
              value: {{ toString $val | quote }}
            {{- end }}
          resources:
            {{- toYaml $.Values.schema.resources | nindent 12 }}
          securityContext:
            {{- toYaml $.Values.global.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      {{- end }}
      volumes:
        - name: tmp
          emptyDir: {sizeLimit: 64Mi}
{{- end }}
{{- end -}}
