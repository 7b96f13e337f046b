{{/* Shared pieces of the in-cluster dev servers. Args: dict "root" $ "name" "kafka" "ports" (list (dict "name" .. "port" ..)) */}}
{{- define "parley.infraServices" -}}
{{- $fullname := include "parley.fullname" .root -}}
{{- $c := dict "root" .root "component" .name -}}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullname }}-{{ .name }}-headless
  labels:
    {{- include "parley.labels" $c | nindent 4 }}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector:
    {{- include "parley.selectorLabels" $c | nindent 4 }}
  ports:
    {{- range .ports }}
    - {name: {{ .name }}, port: {{ .port }}, targetPort: {{ .name }}, protocol: TCP}
    {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $fullname }}-{{ .name }}
  labels:
    {{- include "parley.labels" $c | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "parley.selectorLabels" $c | nindent 4 }}
  ports:
    {{- range .ports }}
    - {name: {{ .name }}, port: {{ .port }}, targetPort: {{ .name }}, protocol: TCP}
    {{- end }}
{{- end -}}

{{/* The pod-level settings every dev server shares. Args: dict "root" $ "uid" 1000 */}}
{{- define "parley.infraPodSpec" -}}
enableServiceLinks: false
automountServiceAccountToken: false
securityContext:
  runAsNonRoot: true
  runAsUser: {{ .uid }}
  runAsGroup: {{ .uid }}
  fsGroup: {{ .uid }}
  fsGroupChangePolicy: OnRootMismatch
  seccompProfile: {type: RuntimeDefault}
{{- with .root.Values.infra.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.infra.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "parley.infraContainerSecurity" -}}
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Args: dict "root" $ "size" "8Gi" */}}
{{- define "parley.infraVolumeClaim" -}}
{{- with .root.Values.infra.pvcRetentionPolicy }}
persistentVolumeClaimRetentionPolicy:
  whenDeleted: {{ .whenDeleted | default "Retain" }}
  whenScaled: {{ .whenScaled | default "Retain" }}
{{- end }}
volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: ["ReadWriteOnce"]
      {{- with .root.Values.infra.storageClass }}
      storageClassName: {{ . }}
      {{- end }}
      resources:
        requests:
          storage: {{ .size }}
{{- end -}}
