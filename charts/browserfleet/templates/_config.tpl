{{/* The operator's config file (fields of src/operator/config.ts). */}}
{{- define "browserfleet.operatorConfig" -}}
{{- $o := .Values.operator }}
{{- $b := .Values.browser }}
{{- $config := dict
  "watchNamespace" .Values.watchNamespace
  "workers" (int $o.workers)
  "chrome" (dict
    "image" (include "browserfleet.image" (list . $b.image))
    "flags" $b.flags
    "resources" $b.resources
    "shmSize" $b.shmSize)
  "sidecar" (dict
    "image" (include "browserfleet.image" (list . .Values.image))
    "resources" $b.sidecar.resources)
  "webdriver" (dict
    "resources" $b.webdriver.resources
    "idleSeconds" (int $b.webdriver.idleSeconds))
  "regionLabel" $b.regionLabel
  "disconnectGraceMs" (int $o.disconnectGraceMs)
  "nodeLostGraceSeconds" (int $o.nodeLostGraceSeconds)
  "podDeadlineSlackSeconds" (int $o.podDeadlineSlackSeconds)
  "connectUrlHost" $o.connectUrlHost
  "reportListen" "0.0.0.0:8082"
  "metricsListen" "0.0.0.0:8081"
  "leaderElection" (dict
    "enabled" $o.leaderElection.enabled
    "leaseName" (include "browserfleet.leaseName" .)
    "leaseDurationSeconds" (int $o.leaderElection.leaseDurationSeconds)
    "renewDeadlineSeconds" (int $o.leaderElection.renewDeadlineSeconds)
    "retryPeriodSeconds" (int $o.leaderElection.retryPeriodSeconds))
  "resyncSeconds" (int $o.resyncSeconds)
  "podLabels" $b.podLabels
  "podAnnotations" $b.podAnnotations
  "nodeSelector" $b.nodeSelector
  "tolerations" $b.tolerations
  "affinity" $b.affinity
  "imagePullSecrets" (include "browserfleet.pullSecretNames" . | fromJsonArray)
  "priorityClassName" $b.priorityClassName
  "artifacts" (include "browserfleet.artifactsConfig" . | fromYaml)
  "artifactCollector" (dict
    "flushTimeoutSeconds" (int .Values.artifacts.flushTimeoutSeconds)
    "concurrency" (int .Values.artifacts.copyConcurrency))
}}
{{- toYaml $config }}
{{- end }}

{{/* The gateway's config file (fields of src/gateway/config.ts). */}}
{{- define "browserfleet.gatewayConfig" -}}
{{- $g := .Values.gateway }}
{{- $config := dict
  "listen" "0.0.0.0:8080"
  "metricsListen" "0.0.0.0:8081"
  "publicUrl" (include "browserfleet.publicUrl" .)
  "watchNamespace" .Values.watchNamespace
  "createWaitMs" (int $g.createWaitMs)
  "releaseWaitMs" (int $g.releaseWaitMs)
  "connectWaitMs" (int $g.connectWaitMs)
  "maxBodyBytes" (int $g.maxBodyBytes)
  "uploadMaxBytes" (int64 $g.uploadMaxBytes)
  "regions" $g.regions
  "defaultRegion" $g.defaultRegion
  "apiKeyCacheSeconds" (int $g.apiKeyCacheSeconds)
  "liveViewTtlSeconds" (int $g.liveViewTtlSeconds)
  "artifacts" (include "browserfleet.artifactsConfig" . | fromYaml)
}}
{{- toYaml $config }}
{{- end }}

{{/* The artifact store's part of the operator's and gateway's config files (src/shared/artifacts/config.ts); its
credentials come from env (browserfleet.artifactsEnv), never from a ConfigMap. */}}
{{- define "browserfleet.artifactsConfig" -}}
{{- $a := .Values.artifacts }}
{{- $config := dict
  "enabled" $a.enabled
  "s3" (dict
    "endpoint" $a.s3.endpoint
    "bucket" $a.s3.bucket
    "region" $a.s3.region
    "forcePathStyle" $a.s3.forcePathStyle
    "prefix" $a.s3.prefix
    "stallTimeoutMs" (int $a.s3.stallTimeoutMs)
    "maxAttempts" (int $a.s3.maxAttempts))
}}
{{- toYaml $config }}
{{- end }}

{{/* Env entries with the artifact store's credentials from their Secret (none without one). */}}
{{- define "browserfleet.artifactsEnv" -}}
{{- $s := .Values.artifacts.s3.credentialsSecret }}
{{- if and .Values.artifacts.enabled $s.name }}
- name: BF_ARTIFACTS_S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $s.name }}
      key: {{ $s.accessKeyIdKey }}
- name: BF_ARTIFACTS_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $s.name }}
      key: {{ $s.secretAccessKeyKey }}
{{- end }}
{{- end }}
