#ifndef SLUICE_CRDKAFKA_SHIM_H
#define SLUICE_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* rd_kafka_producev is variadic and its RD_KAFKA_V_* macros are not imported into Swift;
 * this one call keeps the producer's hot path free of union juggling. The topic is a handle
 * resolved once (rd_kafka_topic_new): producing by name locks the client and searches its
 * topic list for every record. `headers` (may be NULL) is owned by librdkafka when the call
 * succeeds. */
static inline rd_kafka_resp_err_t sluice_produce_rkt(rd_kafka_t *rk, rd_kafka_topic_t *rkt, int32_t partition,
                                                     const void *key, size_t key_len,
                                                     const void *value, size_t value_len,
                                                     rd_kafka_headers_t *headers, void *msg_opaque) {
    if (headers) {
        return rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                                 RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
                                 RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
    }
    return rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                             RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(msg_opaque),
                             RD_KAFKA_V_END);
}

/* Appends a copy of every header of `from` to `to`, in order. */
static inline void sluice_headers_append_all(rd_kafka_headers_t *to, const rd_kafka_headers_t *from) {
    const char *name;
    const void *value;
    size_t size;
    for (size_t i = 0; rd_kafka_header_get_all(from, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; i++) {
        rd_kafka_header_add(to, name, -1, value, (ssize_t)size);
    }
}

#endif
