{{/* Names ------------------------------------------------------------------------------- */}}

{{- define "palisade.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The object name prefix: the release name when it already contains the chart name. */}}
{{- define "palisade.fullname" -}}
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

{{- define "palisade.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "palisade.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "palisade.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels ------------------------------------------------------------------------------ */}}

{{- define "palisade.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "palisade.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Palisade's own pods. The component keeps the bundled Redis out of its selector. */}}
{{- define "palisade.selectorLabels" -}}
app.kubernetes.io/name: {{ include "palisade.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{- define "palisade.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "palisade.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end }}

{{/* Settings ---------------------------------------------------------------------------- */}}

{{/* A repository with global.imageRegistry in front when set. Call with (list $ repository). */}}
{{- define "palisade.repository" -}}
{{- $root := index . 0 }}
{{- with $root.Values.global.imageRegistry }}{{ trimSuffix "/" . }}/{{ end }}{{ index . 1 }}
{{- end }}

{{- define "palisade.image" -}}
{{- $repository := include "palisade.repository" (list . .Values.image.repository) }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Pull secrets of every pod: global ones, then the chart's own. */}}
{{- define "palisade.imagePullSecrets" -}}
{{- $secrets := concat .Values.global.imagePullSecrets .Values.imagePullSecrets }}
{{- with $secrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "palisade.policyConfigMap" -}}
{{- default (printf "%s-policy" (include "palisade.fullname" .)) .Values.existingConfigMap.policy }}
{{- end }}

{{- define "palisade.rateLimitConfigMap" -}}
{{- default (printf "%s-ratelimit" (include "palisade.fullname" .)) .Values.existingConfigMap.rateLimit }}
{{- end }}

{{/* The admin-tokens Secret: the one named, or the one the chart creates. */}}
{{- define "palisade.adminTokensSecret" -}}
{{- if .Values.secrets.adminTokens.name }}
{{- .Values.secrets.adminTokens.name }}
{{- else if .Values.secrets.adminTokens.create }}
{{- printf "%s-admin-tokens" (include "palisade.fullname" .) }}
{{- end }}
{{- end }}

{{- define "palisade.redisUrl" -}}
{{- if .Values.redis.url }}
{{- .Values.redis.url }}
{{- else if .Values.redis.bundled.enabled }}
{{- printf "redis://%s-redis:6379" (include "palisade.fullname" .) }}
{{- end }}
{{- end }}

{{/*
Guards: combinations that cannot work fail the install with a message that says what to change.
values.schema.json checks each value alone; these check values against each other.
*/}}
{{- define "palisade.validate" -}}
{{- $values := .Values }}
{{- $cluster := eq $values.mode "cluster" }}
{{- $replicated := or (not $cluster) $values.autoscaling.enabled (gt (int $values.replicaCount) 1) }}
{{- if not (or $cluster (eq $values.mode "sidecar")) }}
{{- fail (printf "mode must be cluster or sidecar, not %q" $values.mode) }}
{{- end }}
{{- if and $values.redis.url $values.redis.bundled.enabled }}
{{- fail "redis.url is set and redis.bundled.enabled is true: use one store; set redis.bundled.enabled=false to use your Redis" }}
{{- end }}
{{- if regexMatch "^[a-z+]+://[^/@]*:[^/@]*@" $values.redis.url }}
{{- fail "redis.url contains a password: it would be readable in the pod spec; put it in a Secret and set redis.passwordSecret.name" }}
{{- end }}
{{- if and $values.redis.passwordSecret.name (not $values.redis.url) }}
{{- fail "redis.passwordSecret is only for redis.url: the bundled Redis runs without a password behind its NetworkPolicy" }}
{{- end }}
{{- if and $cluster $replicated (not (include "palisade.redisUrl" .)) }}
{{- fail "more than one replica (replicaCount > 1 or autoscaling.enabled) needs a shared store: set redis.url, or redis.bundled.enabled=true for a trial; the in-memory store is for one replica" }}
{{- end }}
{{- if and (gt (int $values.settings.workers) 1) (not (include "palisade.redisUrl" .)) }}
{{- fail "settings.workers above 1 needs a shared store: in memory each worker would count alone; set redis.url, or redis.bundled.enabled=true for a trial" }}
{{- end }}
{{- if and $replicated (not $values.secrets.pseudonymKey.name) }}
{{- fail "secrets.pseudonymKey.name is empty: with several Palisade processes each would pseudonymise with its own random key and they would not share counters; create the Secret (README) and name it here" }}
{{- end }}
{{- if and $values.autoscaling.enabled (gt (int $values.autoscaling.minReplicas) (int $values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas is greater than autoscaling.maxReplicas" }}
{{- end }}
{{- if and $values.podDisruptionBudget.enabled (eq (toString $values.podDisruptionBudget.maxUnavailable) "") (eq (toString $values.podDisruptionBudget.minAvailable) "") }}
{{- fail "podDisruptionBudget needs maxUnavailable or minAvailable" }}
{{- end }}
{{- if and $values.podDisruptionBudget.enabled (ne (toString $values.podDisruptionBudget.maxUnavailable) "") (ne (toString $values.podDisruptionBudget.minAvailable) "") }}
{{- fail "podDisruptionBudget: set maxUnavailable or minAvailable, not both" }}
{{- end }}
{{- if le (int $values.terminationGracePeriodSeconds) (add (int $values.preStopSleepSeconds) (int $values.settings.shutdownGraceSeconds)) }}
{{- fail "terminationGracePeriodSeconds must exceed preStopSleepSeconds + settings.shutdownGraceSeconds, or Kubernetes kills Palisade while it drains" }}
{{- end }}
{{- if and $values.secrets.adminTokens.name $values.secrets.adminTokens.create }}
{{- fail "secrets.adminTokens: set name (a Secret you created) or create=true, not both" }}
{{- end }}
{{- if and $values.serviceMonitor.enabled (not $cluster) }}
{{- fail "serviceMonitor needs mode=cluster (it selects Palisade's Service); in sidecar mode scrape the gateway pods' admin port with a PodMonitor" }}
{{- end }}
{{- end }}

{{/* The Palisade container, shared by the Deployment and the sidecar patch ----------------- */}}

{{/* Secrets that may be mounted: values key, volume suffix, environment variable. */}}
{{- define "palisade.secretMounts" -}}
{{- $s := .Values.secrets }}
{{- $mounts := list }}
{{- if $s.pseudonymKey.name }}{{ $mounts = append $mounts (dict "ref" $s.pseudonymKey "dir" "pseudonym-key" "env" "PALISADE_PSEUDONYM_KEY_FILE") }}{{ end }}
{{- if $s.previousPseudonymKey.name }}{{ $mounts = append $mounts (dict "ref" $s.previousPseudonymKey "dir" "previous-pseudonym-key" "env" "PALISADE_PSEUDONYM_PREVIOUS_KEY_FILE") }}{{ end }}
{{- with include "palisade.adminTokensSecret" . }}{{ $mounts = append $mounts (dict "ref" (dict "name" . "key" $s.adminTokens.key) "dir" "admin-tokens" "env" "PALISADE_ADMIN_TOKENS_FILE") }}{{ end }}
{{- if $s.webhookSecret.name }}{{ $mounts = append $mounts (dict "ref" $s.webhookSecret "dir" "webhook-secret" "env" "PALISADE_WEBHOOK_SECRET_FILE") }}{{ end }}
{{- if $s.challengeKey.name }}{{ $mounts = append $mounts (dict "ref" $s.challengeKey "dir" "challenge-key" "env" "PALISADE_CHALLENGE_KEY_FILE") }}{{ end }}
{{- if .Values.redis.passwordSecret.name }}{{ $mounts = append $mounts (dict "ref" .Values.redis.passwordSecret "dir" "redis-password" "env" "PALISADE_REDIS_PASSWORD_FILE") }}{{ end }}
{{- toJson $mounts }}
{{- end }}

{{- define "palisade.container" -}}
{{- $sidecar := eq .Values.mode "sidecar" }}
{{- $secrets := include "palisade.secretMounts" . | fromJsonArray -}}
name: palisade
image: {{ include "palisade.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
args: [serve]
ports:
  - name: grpc
    containerPort: {{ .Values.ports.grpc }}
    protocol: TCP
  - name: admin
    containerPort: {{ .Values.ports.admin }}
    protocol: TCP
  - name: challenge
    containerPort: {{ .Values.ports.challenge }}
    protocol: TCP
env:
  - name: PALISADE_POLICY
    value: /etc/palisade/policy
  - name: PALISADE_RATELIMIT_CONFIG
    value: /etc/palisade/ratelimit
  {{- if $sidecar }}
  # Only Envoy in the same pod may call it.
  - name: PALISADE_GRPC_HOST
    value: 127.0.0.1
  {{- end }}
  - name: PALISADE_GRPC_PORT
    value: {{ .Values.ports.grpc | quote }}
  - name: PALISADE_ADMIN_PORT
    value: {{ .Values.ports.admin | quote }}
  - name: PALISADE_CHALLENGE_PORT
    value: {{ .Values.ports.challenge | quote }}
  - name: PALISADE_LOG_LEVEL
    value: {{ .Values.settings.logLevel | quote }}
  - name: PALISADE_WORKERS
    value: {{ .Values.settings.workers | quote }}
  - name: PALISADE_SHUTDOWN_GRACE
    value: {{ printf "%ds" (int .Values.settings.shutdownGraceSeconds) | quote }}
  - name: PALISADE_STORE_TIMEOUT
    value: {{ .Values.settings.storeTimeout | quote }}
  - name: PALISADE_MAX_CLOCK_SKEW
    value: {{ .Values.settings.maxClockSkew | quote }}
  - name: PALISADE_PSEUDONYM_GRACE
    value: {{ .Values.settings.pseudonymGrace | quote }}
  {{- with include "palisade.redisUrl" . }}
  - name: REDIS_URL
    value: {{ . | quote }}
  {{- end }}
  {{- range $secrets }}
  - name: {{ .env }}
    value: {{ printf "/etc/palisade/secrets/%s/%s" .dir .ref.key }}
  {{- end }}
  {{- if .Values.breachedPasswords.volume }}
  - name: PALISADE_BREACHED_PASSWORDS
    value: {{ trimSuffix "/" (printf "/etc/palisade/breached-passwords/%s" .Values.breachedPasswords.path) }}
  {{- end }}
  {{- if .Values.geoip.volume }}
  {{- with .Values.geoip.cityDatabase }}
  - name: PALISADE_GEOIP_CITY_DATABASE
    value: {{ printf "/etc/palisade/geoip/%s" . | quote }}
  {{- end }}
  {{- with .Values.geoip.asnDatabase }}
  - name: PALISADE_GEOIP_ASN_DATABASE
    value: {{ printf "/etc/palisade/geoip/%s" . | quote }}
  {{- end }}
  {{- with .Values.geoip.hostingAsnsFile }}
  - name: PALISADE_HOSTING_ASNS_FILE
    value: {{ printf "/etc/palisade/geoip/%s" . | quote }}
  {{- end }}
  {{- end }}
  {{- with .Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
volumeMounts:
  - name: palisade-policy
    mountPath: /etc/palisade/policy
    readOnly: true
  - name: palisade-ratelimit
    mountPath: /etc/palisade/ratelimit
    readOnly: true
  {{- range $secrets }}
  - name: {{ printf "palisade-%s" .dir }}
    mountPath: {{ printf "/etc/palisade/secrets/%s" .dir }}
    readOnly: true
  {{- end }}
  {{- if .Values.breachedPasswords.volume }}
  - name: palisade-breached-passwords
    mountPath: /etc/palisade/breached-passwords
    readOnly: true
  {{- end }}
  {{- if .Values.geoip.volume }}
  - name: palisade-geoip
    mountPath: /etc/palisade/geoip
    readOnly: true
  {{- end }}
  {{- with .Values.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
startupProbe:
  httpGet: { path: /readyz, port: admin }
  {{- toYaml .Values.probes.startup | nindent 2 }}
readinessProbe:
  {{- if $sidecar }}
  httpGet: { path: /readyz, port: admin }
  {{- else }}
  grpc: { port: {{ .Values.ports.grpc }} }
  {{- end }}
  {{- toYaml .Values.probes.readiness | nindent 2 }}
livenessProbe:
  httpGet: { path: /healthz, port: admin }
  {{- toYaml .Values.probes.liveness | nindent 2 }}
lifecycle:
  preStop:
    exec:
      command: [sleep, {{ .Values.preStopSleepSeconds | quote }}]
resources:
  {{- toYaml .Values.resources | nindent 2 }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
{{- end }}

{{- define "palisade.volumes" -}}
- name: palisade-policy
  configMap:
    name: {{ include "palisade.policyConfigMap" . }}
- name: palisade-ratelimit
  configMap:
    name: {{ include "palisade.rateLimitConfigMap" . }}
{{- range include "palisade.secretMounts" . | fromJsonArray }}
- name: {{ printf "palisade-%s" .dir }}
  secret:
    secretName: {{ .ref.name }}
    # 0444: read-only. Set explicitly because in sidecar mode the pod (and its fsGroup) is the gateway's.
    defaultMode: 292
{{- end }}
{{- with .Values.breachedPasswords.volume }}
- name: palisade-breached-passwords
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.geoip.volume }}
- name: palisade-geoip
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The bundled Redis' configuration: memory only, bounded, reachable without a password. */}}
{{- define "palisade.redisConfig" -}}
port 6379
bind * -::*
protected-mode no
save ""
{{- if .Values.redis.bundled.persistence.enabled }}
appendonly yes
appendfsync everysec
{{- else }}
appendonly no
{{- end }}
maxmemory {{ .Values.redis.bundled.maxmemory }}
maxmemory-policy allkeys-lru
{{- end }}

{{/*
Sidecar mode: the patch that adds Palisade to a gateway Deployment. The label lets the bundled
Redis' NetworkPolicy admit the gateway pods.
*/}}
{{- define "palisade.sidecarPatch" -}}
spec:
  template:
    metadata:
      labels:
        palisade.dev/sidecar: "true"
    spec:
      {{- if .Values.sidecar.native }}
      initContainers:
        - {{- include "palisade.container" . | nindent 10 }}
          restartPolicy: Always
      {{- else }}
      containers:
        - {{- include "palisade.container" . | nindent 10 }}
      {{- end }}
      volumes:
        {{- include "palisade.volumes" . | nindent 8 }}
{{- end }}
