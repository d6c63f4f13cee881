#!/bin/sh
# Entry point of the compose file's two containers on the official apache/kafka image, `kafka-format` and
# `kafka`. It reads the installation's broker secrets from /etc/kafka/secrets (one value per file, written by
# `egov kafka secrets` on the first `docker compose up`), exports them as the KAFKA_* variables the image turns
# into server.properties (KAFKA_A_B__C___D -> a.b_c-d), then:
#
#   format  formats the data volume, once, with the SCRAM credentials of `broker` (the broker authenticates to
#           its own listener) and `admin` (the admin step, `egov kafka provision`); every other principal is
#           created by the admin step. A formatted volume is kept as it is.
#   run     hands over to the image's own launcher, /etc/kafka/docker/run, which accepts formatted storage.
#
# The same security settings as infra/kafka/security-sasl.properties.template: SCRAM-SHA-512 on the client
# listeners, PLAIN (static user `controller`) on the controller listener, the rest is in the compose file.
# POSIX sh (the image has neither Python nor jq). Never trace this script: the values are passwords.
set -eu
umask 077

secrets=/etc/kafka/secrets
value() {
    [ -s "$secrets/$1" ] || { echo "kafka-entrypoint: $secrets/$1 is missing (the secrets job did not run)" >&2; exit 1; }
    cat "$secrets/$1"
}
broker=$(value broker.password)
controller=$(value controller.password)
CLUSTER_ID=$(value cluster.id)
export CLUSTER_ID

scram=org.apache.kafka.common.security.scram.ScramLoginModule
plain=org.apache.kafka.common.security.plain.PlainLoginModule
# listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config: the containers' listener, also the broker's own
export KAFKA_LISTENER_NAME_SASL__PLAINTEXT_SCRAM___SHA___512_SASL_JAAS_CONFIG="$scram required username=\"broker\" password=\"$broker\";"
# listener.name.external.scram-sha-512.sasl.jaas.config: the host's listener only checks its clients
export KAFKA_LISTENER_NAME_EXTERNAL_SCRAM___SHA___512_SASL_JAAS_CONFIG="$scram required;"
# listener.name.controller.plain.sasl.jaas.config: the broker and its own controller, the static user `controller`
export KAFKA_LISTENER_NAME_CONTROLLER_PLAIN_SASL_JAAS_CONFIG="$plain required username=\"controller\" password=\"$controller\" user_controller=\"$controller\";"
# The image's configure script stops when a SASL listener comes without KAFKA_OPTS and expects a JAAS file in
# it; every JAAS setting is per listener in server.properties here, so the static JAAS file is empty.
export KAFKA_OPTS="${KAFKA_OPTS:--Djava.security.auth.login.config=/dev/null}"

# server.properties from the KAFKA_* variables, by the image's own rule (kafka.docker.KafkaDockerWrapper:
# the variables it leaves out, then `_` -> `.`, `...` -> `-`, `..` -> `_`).
properties() {
    env | while IFS= read -r line; do
        name=${line%%=*}
        case $name in
            KAFKA_VERSION | KAFKA_HEAP_OPTS | KAFKA_LOG4J_OPTS | KAFKA_OPTS | KAFKA_JMX_OPTS | \
                KAFKA_JVM_PERFORMANCE_OPTS | KAFKA_GC_LOG_OPTS | KAFKA_LOG4J_ROOT_LOGLEVEL | KAFKA_LOG4J_LOGGERS | \
                KAFKA_TOOLS_LOG4J_LOGLEVEL | KAFKA_JMX_HOSTNAME) ;;
            KAFKA_*)
                key=$(printf '%s' "${name#KAFKA_}" | tr '[:upper:]' '[:lower:]' |
                    sed -e 's/_/./g' -e 's/\.\.\./-/g' -e 's/\.\./_/g')
                printf '%s=%s\n' "$key" "${line#*=}"
                ;;
        esac
    done
}

case "${1:-run}" in
    format)
        data=${KAFKA_LOG_DIRS:?KAFKA_LOG_DIRS names the data volume}
        if [ -f "$data/meta.properties" ]; then
            echo "kafka-format: $data is formatted already (cluster $(sed -n 's/^cluster.id=//p' "$data/meta.properties"))"
            exit 0
        fi
        work=$(mktemp -d)
        trap 'rm -rf "$work"' EXIT
        properties >"$work/server.properties"
        admin=$(value admin.password)
        # The format tool prints the salted credentials it writes: only its other lines are shown.
        if /opt/kafka/bin/kafka-storage.sh format --cluster-id "$CLUSTER_ID" --config "$work/server.properties" \
            --add-scram "SCRAM-SHA-512=[name=broker,password=$broker]" \
            --add-scram "SCRAM-SHA-512=[name=admin,password=$admin]" >"$work/log" 2>&1; then
            grep -v -i -e scram -e password "$work/log" || true
        else
            grep -v -i -e scram -e password "$work/log" >&2 || true
            echo "kafka-format: formatting $data failed" >&2
            exit 1
        fi
        ;;
    run)
        # The health check's client settings (the broker's own principal), readable by this container's user only.
        printf '%s\n' "security.protocol=SASL_PLAINTEXT" "sasl.mechanism=SCRAM-SHA-512" \
            "sasl.jaas.config=$scram required username=\"broker\" password=\"$broker\";" \
            >/opt/kafka/config/healthcheck.properties
        # The launcher rewrites the image's server.properties in place, keeping its mode: the passwords go in it.
        chmod 600 /opt/kafka/config/server.properties 2>/dev/null || true
        exec /etc/kafka/docker/run
        ;;
    *)
        echo "usage: kafka-entrypoint.sh [format|run]" >&2
        exit 2
        ;;
esac
