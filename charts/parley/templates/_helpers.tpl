{{/*
Shared building blocks. Each service's own template (templates/<service>.yaml) declares what is
particular to it (kind, the stores it uses, the services it calls, extra env) and renders its objects
through "parley.workload". Infrastructure and shared objects live in templates/shared and templates/infra.
*/}}

{{- define "parley.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "parley.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains (include "parley.name" .) .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "parley.name" .) | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels. Args: dict "root" $ "component" "<name>" */}}
{{- define "parley.selectorLabels" -}}
app.kubernetes.io/name: {{ include "parley.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "parley.labels" -}}
{{ include "parley.selectorLabels" . }}
app.kubernetes.io/part-of: parley
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The image of a service. Args: dict "root" $ "name" "<service>" */}}
{{- define "parley.image" -}}
{{- $g := .root.Values.global.image -}}
{{- $s := (index .root.Values .name).image | default dict -}}
{{- $repo := $s.repository | default (printf "%s/%s" (trimSuffix "/" $g.repository) .name) -}}
{{- $tag := $s.tag | default $g.tag | default .root.Chart.AppVersion -}}
{{- if $s.digest -}}
{{- printf "%s:%s@%s" $repo $tag $s.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/* The upper-case env prefix of a service: session -> SESSION */}}
{{- define "parley.prefix" -}}
{{- . | upper | replace "-" "_" -}}
{{- end -}}

{{/* ---------------- connection settings ---------------- */}}

{{- define "parley.cassandraContactPoints" -}}
{{- if .Values.cassandra.contactPoints -}}{{ .Values.cassandra.contactPoints }}
{{- else if .Values.infra.enabled -}}{{ include "parley.fullname" . }}-cassandra:9042
{{- else -}}{{ fail "cassandra.contactPoints is required when infra.enabled=false" }}
{{- end -}}
{{- end -}}

{{- define "parley.kafkaBrokers" -}}
{{- if .Values.kafka.brokers -}}{{ .Values.kafka.brokers }}
{{- else if .Values.infra.enabled -}}{{ include "parley.fullname" . }}-kafka-0.{{ include "parley.fullname" . }}-kafka-headless.{{ .Release.Namespace }}.svc:9092
{{- else -}}{{ fail "kafka.brokers is required when infra.enabled=false" }}
{{- end -}}
{{- end -}}

{{- define "parley.redisUrl" -}}
{{- if .Values.redis.url -}}{{ .Values.redis.url }}
{{- else if .Values.infra.enabled -}}redis://{{ include "parley.fullname" . }}-redis:6379
{{- else if not .Values.redis.existingSecret -}}{{ fail "redis.url or redis.existingSecret is required when infra.enabled=false" }}
{{- end -}}
{{- end -}}

{{- define "parley.minioEndpoint" -}}
{{- if .Values.minio.endpoint -}}{{ .Values.minio.endpoint }}
{{- else if .Values.infra.enabled -}}http://{{ include "parley.fullname" . }}-minio:9000
{{- else -}}{{ fail "minio.endpoint is required when infra.enabled=false" }}
{{- end -}}
{{- end -}}

{{- define "parley.minioSecretName" -}}
{{- if .Values.minio.existingSecret -}}{{ .Values.minio.existingSecret }}
{{- else if .Values.infra.enabled -}}{{ include "parley.fullname" . }}-minio
{{- else -}}{{ fail "minio.existingSecret is required when infra.enabled=false (a Secret with PARLEY_MINIO_ACCESS_KEY and PARLEY_MINIO_SECRET_KEY)" }}
{{- end -}}
{{- end -}}

{{- define "parley.signingKeySecretName" -}}
{{- .Values.session.signingKey.existingSecret | default (printf "%s-session-signing-key" (include "parley.fullname" .)) -}}
{{- end -}}

{{/* The non-secret shared settings: the data of the <release>-config ConfigMap. */}}
{{- define "parley.sharedConfig" -}}
PARLEY_CASSANDRA_CONTACT_POINTS: {{ include "parley.cassandraContactPoints" . | quote }}
PARLEY_CASSANDRA_DATACENTER: {{ .Values.cassandra.datacenter | quote }}
PARLEY_CASSANDRA_KEYSPACE: {{ .Values.cassandra.keyspace | quote }}
PARLEY_CASSANDRA_REPLICATION: {{ .Values.cassandra.replication | quote }}
PARLEY_KAFKA_BROKERS: {{ include "parley.kafkaBrokers" . | quote }}
PARLEY_KAFKA_TOPIC_PARTITIONS: {{ .Values.kafka.topicPartitions | quote }}
{{- if and .Values.infra.enabled (not .Values.kafka.brokers) (gt (int .Values.kafka.replicationFactor) 1) }}
{{- fail "kafka.replicationFactor must be 1 with the single-broker in-cluster Kafka (infra.enabled=true)" }}
{{- end }}
PARLEY_KAFKA_REPLICATION_FACTOR: {{ .Values.kafka.replicationFactor | quote }}
{{- if not .Values.redis.existingSecret }}
PARLEY_REDIS_URL: {{ include "parley.redisUrl" . | quote }}
{{- end }}
PARLEY_MINIO_ENDPOINT: {{ include "parley.minioEndpoint" . | quote }}
PARLEY_MINIO_BUCKET: {{ .Values.minio.bucket | quote }}
{{- with .Values.minio.publicEndpoint }}
PARLEY_MINIO_PUBLIC_ENDPOINT: {{ . | quote }}
{{- end }}
PARLEY_LOG_LEVEL: {{ .Values.global.logLevel | quote }}
{{- end -}}

{{/*
Env entries for the shared settings a service uses. Args: dict "root" $ "stores" (list ...) "inline" bool.
inline=true renders the values themselves (the pre-install schema Job runs before the ConfigMap exists).
*/}}
{{- define "parley.storeEnv" -}}
{{- $root := .root -}}
{{- $cm := printf "%s-config" (include "parley.fullname" $root) -}}
{{- $shared := include "parley.sharedConfig" $root | fromYaml -}}
{{- $keys := list "PARLEY_LOG_LEVEL" -}}
{{- if has "cassandra" .stores }}{{ $keys = concat $keys (list "PARLEY_CASSANDRA_CONTACT_POINTS" "PARLEY_CASSANDRA_DATACENTER" "PARLEY_CASSANDRA_KEYSPACE" "PARLEY_CASSANDRA_REPLICATION") }}{{ end -}}
{{- if has "kafka" .stores }}{{ $keys = concat $keys (list "PARLEY_KAFKA_BROKERS" "PARLEY_KAFKA_TOPIC_PARTITIONS" "PARLEY_KAFKA_REPLICATION_FACTOR") }}{{ end -}}
{{- if and (has "redis" .stores) (not $root.Values.redis.existingSecret) }}{{ $keys = append $keys "PARLEY_REDIS_URL" }}{{ end -}}
{{- if has "minio" .stores }}{{ $keys = concat $keys (list "PARLEY_MINIO_ENDPOINT" "PARLEY_MINIO_BUCKET") }}{{ if $root.Values.minio.publicEndpoint }}{{ $keys = append $keys "PARLEY_MINIO_PUBLIC_ENDPOINT" }}{{ end }}{{ end -}}
{{- range $keys }}
- name: {{ . }}
{{- if $.inline }}
  value: {{ index $shared . | quote }}
{{- else }}
  valueFrom:
    configMapKeyRef:
      name: {{ $cm }}
      key: {{ . }}
{{- end }}
{{- end }}
{{- if and (has "cassandra" .stores) $root.Values.cassandra.auth.existingSecret }}
- name: PARLEY_CASSANDRA_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.cassandra.auth.existingSecret }}
      key: {{ $root.Values.cassandra.auth.usernameKey }}
- name: PARLEY_CASSANDRA_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.cassandra.auth.existingSecret }}
      key: {{ $root.Values.cassandra.auth.passwordKey }}
{{- end }}
{{- if and (has "redis" .stores) $root.Values.redis.existingSecret }}
- name: PARLEY_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.redis.existingSecret }}
      key: {{ $root.Values.redis.existingSecretKey }}
{{- end }}
{{- if has "minio" .stores }}
{{- range list "PARLEY_MINIO_ACCESS_KEY" "PARLEY_MINIO_SECRET_KEY" }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ include "parley.minioSecretName" $root }}
      key: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The whole env of a service container. Args: dict "root" $ "svc" $svc "inline" bool
Order: shared settings, ports, addresses of the services it calls, service-specific entries, values env.
A name in <service>.env replaces the chart's entry of the same name.
*/}}
{{- define "parley.serviceEnv" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $v := index $root.Values $svc.name -}}
{{- $P := include "parley.prefix" $svc.name -}}
{{- $fullname := include "parley.fullname" $root -}}
{{- $entries := list -}}
{{- range (include "parley.storeEnv" (dict "root" $root "stores" $svc.stores "inline" .inline) | fromYamlArray) }}{{ $entries = append $entries . }}{{ end -}}
{{- if eq $svc.kind "gateway" -}}
{{- $entries = append $entries (dict "name" "GATEWAY_PORT" "value" (toString $v.ports.http)) -}}
{{- else -}}
{{- $entries = append $entries (dict "name" (printf "%s_GRPC_PORT" $P) "value" (toString $v.ports.grpc)) -}}
{{- $entries = append $entries (dict "name" (printf "%s_HTTP_PORT" $P) "value" (toString $v.ports.http)) -}}
{{- end -}}
{{- $entries = append $entries (dict "name" "PARLEY_MESH_TLS_DIR" "value" "/etc/parley/mesh-tls") -}}
{{- range $svc.calls -}}
{{- $entries = append $entries (dict "name" (printf "%s_%s_ADDR" $P (include "parley.prefix" .)) "value" (printf "%s-%s:%v" $fullname . (index $root.Values .).ports.grpc)) -}}
{{- end -}}
{{- range ($svc.env | default list) }}{{ $entries = append $entries . }}{{ end -}}
{{- range $entries }}
{{- if not (hasKey ($v.env | default dict) .name) }}
- {{ toYaml . | nindent 2 | trim }}
{{- end }}
{{- end }}
{{- range $k, $val := ($v.env | default dict) }}
- name: {{ $k }}
  value: {{ toString $val | quote }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* ---------------- schema Job ---------------- */}}

{{/* Services whose image applies Cassandra migrations (`migrate`), in the order they run. */}}
{{- define "parley.migratingServices" -}}
{{- $out := list -}}
{{- range list "session" "group" "message" "presence" "media" "push" -}}
{{- if (index $.Values .).enabled }}{{ $out = append $out . }}{{ end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* As a hook: <fullname>-schema. Otherwise <fullname>-schema-<hash of its spec> (a Job's template is
immutable, so a changed spec must be a new Job), at most 63 characters. */}}
{{- define "parley.schemaJobName" -}}
{{- if include "parley.schemaHookPhase" . -}}
{{- include "parley.fullname" . }}-schema
{{- else -}}
{{- printf "%s-schema" (include "parley.fullname" .) | trunc 52 | trimSuffix "-" }}-{{ include "parley.schemaJobSpec" . | sha256sum | trunc 10 }}
{{- end -}}
{{- end -}}

{{/* Changes whenever what the Job does changes: the images that migrate, the keyspace, its replication. */}}
{{- define "parley.schemaGeneration" -}}
{{- $in := dict "keyspace" .Values.cassandra.keyspace "replication" .Values.cassandra.replication "contactPoints" (include "parley.cassandraContactPoints" .) "brokers" (include "parley.kafkaBrokers" .) -}}
{{- range list "session" "group" "message" "presence" "media" "push" -}}
{{- $_ := set $in . (include "parley.image" (dict "root" $ "name" .)) -}}
{{- end -}}
{{- toJson $in | sha256sum | trunc 16 -}}
{{- end -}}

{{/* The Helm hook list of the schema Job, or "" when it is an ordinary release object (hookPhase none). */}}
{{- define "parley.schemaHookPhase" -}}
{{- if not (has .Values.schema.hookPhase (list "none" "")) -}}{{ .Values.schema.hookPhase }}{{- end -}}
{{- end -}}

{{/* ---------------- workloads ---------------- */}}

{{- define "parley.affinity" -}}
{{- $v := index .root.Values .name -}}
{{- if $v.affinity -}}
{{ toYaml $v.affinity }}
{{- else if or (eq $v.podAntiAffinity "soft") (eq $v.podAntiAffinity "hard") -}}
podAntiAffinity:
{{- if eq $v.podAntiAffinity "hard" }}
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "parley.selectorLabels" (dict "root" .root "component" .name) | nindent 10 }}
{{- else }}
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "parley.selectorLabels" (dict "root" .root "component" .name) | nindent 12 }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: explicit, else preStop sleep + drain + 15 s of margin; never <= drain. */}}
{{- define "parley.gracePeriod" -}}
{{- $v := index .root.Values .name -}}
{{- $floor := add .root.Values.global.preStopSleepSeconds $v.drainSeconds -}}
{{- $grace := $v.terminationGracePeriodSeconds | default (add $floor 15) | int -}}
{{- if le $grace (int $floor) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must be longer than preStopSleepSeconds + drainSeconds (%d)" .name $grace (int $floor)) -}}
{{- end -}}
{{- $grace -}}
{{- end -}}

{{/*
Everything of one service: ServiceAccount, Service (gRPC services), Deployment, PodDisruptionBudget, HPA.
Args: dict "root" $ "svc" (dict "name" "<service>" "kind" "grpc|gateway" "stores" (list ...) "calls" (list ...)
"env" (list of EnvVar) "waitForSchema" bool "tmpSizeLimit" "64Mi" "volumes" (list of Volume) "volumeMounts" (list of VolumeMount))
*/}}
{{- define "parley.workload" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $name := $svc.name -}}
{{- $v := index $root.Values $name -}}
{{- $fullname := include "parley.fullname" $root -}}
{{- $component := dict "root" $root "component" $name -}}
{{- $wait := and $svc.waitForSchema $root.Values.schema.enabled $root.Values.schema.waitInPods -}}
{{- $opsPort := $v.ports.http -}}
{{- if $v.enabled }}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $fullname }}-{{ $name }}
  labels:
    {{- include "parley.labels" $component | nindent 4 }}
automountServiceAccountToken: false
{{- if ne $svc.kind "gateway" }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullname }}-{{ $name }}
  labels:
    {{- include "parley.labels" $component | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "parley.selectorLabels" $component | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $v.ports.grpc }}
      targetPort: grpc
      protocol: TCP
    - name: ops
      port: {{ $v.ports.http }}
      targetPort: ops
      protocol: TCP
      appProtocol: http
{{- end }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullname }}-{{ $name }}
  labels:
    {{- include "parley.labels" $component | nindent 4 }}
spec:
  {{- if not $v.autoscaling.enabled }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 25%
  selector:
    matchLabels:
      {{- include "parley.selectorLabels" $component | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "parley.labels" $component | nindent 8 }}
        {{- with $root.Values.global.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include "parley.sharedConfig" $root | sha256sum }}
        {{- if $root.Values.global.prometheusScrapeAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $opsPort | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $root.Values.global.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ $fullname }}-{{ $name }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ include "parley.gracePeriod" (dict "root" $root "name" $name) }}
      securityContext:
        {{- toYaml $root.Values.global.podSecurityContext | nindent 8 }}
      {{- with $root.Values.global.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if $wait }}
      initContainers:
        # Waits until the schema/topics Job of this schema generation has succeeded (templates/shared/schema-job.yaml).
        - name: wait-for-schema
          image: {{ include "parley.image" (dict "root" $root "name" $name) }}
          imagePullPolicy: {{ $root.Values.global.image.pullPolicy }}
          command: ["node", "--input-type=module", "-e", {{ $root.Files.Get "files/wait-for-job.mjs" | quote }}, "--", {{ include "parley.schemaJobName" $root | quote }}, {{ include "parley.schemaGeneration" $root | quote }}]
          securityContext:
            {{- toYaml $root.Values.global.containerSecurityContext | nindent 12 }}
          resources:
            requests: {cpu: 10m, memory: 32Mi}
            limits: {memory: 96Mi}
          volumeMounts:
            - name: kube-api-access
              mountPath: /var/run/secrets/kubernetes.io/serviceaccount
              readOnly: true
      {{- end }}
      containers:
        - name: {{ $name }}
          image: {{ include "parley.image" (dict "root" $root "name" $name) }}
          imagePullPolicy: {{ $root.Values.global.image.pullPolicy }}
          env:
            {{- include "parley.serviceEnv" (dict "root" $root "svc" $svc "inline" false) | nindent 12 }}
          ports:
          {{- if eq $svc.kind "gateway" }}
            - name: http
              containerPort: {{ $v.ports.http }}
              protocol: TCP
          {{- else }}
            - name: grpc
              containerPort: {{ $v.ports.grpc }}
              protocol: TCP
            - name: ops
              containerPort: {{ $v.ports.http }}
              protocol: TCP
          {{- end }}
          startupProbe:
            httpGet: {path: /healthz, port: {{ $opsPort }}}
            periodSeconds: 2
            failureThreshold: 150
          livenessProbe:
            httpGet: {path: /healthz, port: {{ $opsPort }}}
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          readinessProbe:
            # /readyz on the ops port for every service: the kubelet's gRPC probe cannot present a mesh client
            # certificate (the gRPC health service mirrors the same readiness; kit readinessMonitor).
            httpGet: {path: /readyz, port: {{ $v.ports.http }}}
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 2
          lifecycle:
            preStop:
              sleep: {seconds: {{ $root.Values.global.preStopSleepSeconds }}}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.global.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            - name: mesh-tls
              mountPath: /etc/parley/mesh-tls
              readOnly: true
            {{- with $svc.volumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ $svc.tmpSizeLimit | default "64Mi" }}
        # This workload's mesh identity (templates/shared/mesh-tls.yaml).
        - name: mesh-tls
          secret:
            secretName: {{ $fullname }}-mesh-tls-{{ $name }}
            defaultMode: 0440
        {{- with $svc.volumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- if $wait }}
        # The API token only reaches the wait-for-schema init container, never the service container.
        - name: kube-api-access
          projected:
            defaultMode: 0444
            sources:
              - serviceAccountToken: {path: token, expirationSeconds: 3607}
              - configMap:
                  name: kube-root-ca.crt
                  items: [{key: ca.crt, path: ca.crt}]
              - downwardAPI:
                  items:
                    - path: namespace
                      fieldRef: {apiVersion: v1, fieldPath: metadata.namespace}
        {{- end }}
      {{- $affinity := include "parley.affinity" (dict "root" $root "name" $name) }}
      {{- with $affinity }}
      affinity:
        {{- . | nindent 8 }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- if $v.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $fullname }}-{{ $name }}
  labels:
    {{- include "parley.labels" $component | nindent 4 }}
spec:
  {{- if hasKey $v.pdb "minAvailable" }}
  minAvailable: {{ $v.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $v.pdb.maxUnavailable | default 1 }}
  {{- end }}
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "parley.selectorLabels" $component | nindent 6 }}
{{- end }}
{{- if $v.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $fullname }}-{{ $name }}
  labels:
    {{- include "parley.labels" $component | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $fullname }}-{{ $name }}
  minReplicas: {{ $v.autoscaling.minReplicas }}
  maxReplicas: {{ $v.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $v.autoscaling.targetCPUUtilizationPercentage }}
  {{- with $v.autoscaling.scaleDownStabilizationSeconds }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: {{ . }}
      policies:
        - type: Pods
          value: 1
          periodSeconds: 300
  {{- end }}
{{- end }}
{{- end }}
{{- end -}}
