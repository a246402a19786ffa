/*
 * naive_pipeline: the reference baseline for Sluice's load test (issue 6).
 *
 * Does the naive version of the engine's I/O with librdkafka and hiredis, one thread:
 *   consume a batch (rd_kafka_consume_batch_queue, group subscription)
 *   -> per event, append HINCRBY / HINCRBYFLOAT / HSET on user:<id> and send the whole batch
 *      as ONE pipelined Redis round trip, then read and check every reply (synchronous)
 *   -> produce one ~150-byte JSON decision per input record, keyed by user_id
 *   -> every --commit-interval-ms: with --transactional-id, send_offsets_to_transaction +
 *      commit_transaction (KIP-447: consumer group metadata); without it, flush the idempotent
 *      producer and rd_kafka_commit the offsets (at-least-once).
 * --kafka-only skips Redis (consume -> produce).
 *
 * Input parsing is deliberately naive (strstr/strtod, no JSON library). A record without a
 * "user_id" string or a numeric "amount" (the generator's ~1 % malformed records) touches no
 * Redis key and still yields one output record ("decision":"invalid", no key), so the output
 * topic holds exactly one record per input record.
 *
 * Last line on stdout: events=<n> seconds=<s> rate=<events_per_s>, timed from the first record
 * consumed to the end of the final commit. Diagnostics go to stderr. Any Redis error, fatal
 * Kafka error, failed delivery, failed commit or abortable transaction error ends the program
 * with a message and exit status 1 (after aborting the transaction when that applies).
 *
 * Build: loadtest/reference/build.sh. Run with librdkafka >= 2.2 on the library path (Debian's
 * 2.0.2 cannot talk to the Tansu test broker): source scripts/lib.sh first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis.h>
#include <librdkafka/rdkafka.h>

#define MAX_PARTITIONS 4096
#define MAX_VALUE (64 * 1024)
#define UID_MAX 64
#define EID_MAX 64
#define NUM_MAX 40

/* ---- options ---------------------------------------------------------------------------- */
static const char *opt_bootstrap = "127.0.0.1:9092";
static const char *opt_redis = "127.0.0.1:6379";
static const char *opt_input = "events";
static const char *opt_output = "decisions-ref";
static const char *opt_group = "naive-pipeline";
static const char *opt_txn_id = NULL;
static const char *opt_key_prefix = "user:";
static int opt_kafka_only = 0;
static int opt_exit_at_end = 0;
static int opt_commit_interval_ms = 100;
static int opt_batch = 1000;
static long long opt_expected = -1;

/* ---- state ------------------------------------------------------------------------------ */
static rd_kafka_t *consumer, *producer;
static rd_kafka_topic_t *out_topic;
static redisContext *redis;
static volatile sig_atomic_t stop_requested;

static int assigned[MAX_PARTITIONS];     /* partition currently assigned to us */
static int at_eof[MAX_PARTITIONS];       /* reported end-of-partition, nothing consumed since */
static int64_t pending[MAX_PARTITIONS];  /* next offset to commit, -1 = nothing new */
static int n_assigned;
static int dirty;                        /* offsets processed since the last commit */
static int txn_open;

static long long n_events, n_invalid, n_produced, n_commits;
static volatile long long n_delivered, n_delivery_failed;
static long long n_redis_commands;
static double commit_secs, commit_max_secs; /* time spent in commit_now */
static double last_record_commit; /* end of the last commit that carried offsets */

struct event {
    int valid;
    int32_t partition;
    int64_t offset;
    char event_id[EID_MAX];
    char uid[UID_MAX];
    char amount_txt[NUM_MAX];
    double amount;
    long long count;         /* from the HINCRBY reply */
    char amount_sum[NUM_MAX]; /* from the HINCRBYFLOAT reply */
};

/* ---- helpers ---------------------------------------------------------------------------- */
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("naive_pipeline: fatal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void set_conf(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
        die("config %s=%s: %s", k, v, err);
}

static void split_host_port(const char *s, char *host, size_t hostlen, int *port) {
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) die("expected HOST:PORT, got '%s'", s);
    size_t n = (size_t)(colon - s);
    if (n >= hostlen) die("host too long: %s", s);
    memcpy(host, s, n);
    host[n] = 0;
    *port = atoi(colon + 1);
    if (*port <= 0) die("bad port in '%s'", s);
}

/* ---- Kafka callbacks -------------------------------------------------------------------- */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
        die("%s: fatal error %s: %s", rd_kafka_name(rk), rd_kafka_err2name(orig), buf);
    }
    fprintf(stderr, "naive_pipeline: %s: %s: %s\n", rd_kafka_name(rk),
            rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk; (void)opaque;
    if (m->err) {
        if (n_delivery_failed++ < 5)
            fprintf(stderr, "naive_pipeline: delivery failed: %s\n", rd_kafka_err2str(m->err));
    } else {
        n_delivered++;
    }
}

static void check_deliveries(void) {
    if (n_delivery_failed) die("%lld decision(s) failed delivery", (long long)n_delivery_failed);
}

/* ---- commits ---------------------------------------------------------------------------- */
static rd_kafka_topic_partition_list_t *pending_offsets(void) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int p = 0; p < MAX_PARTITIONS; p++)
        if (pending[p] >= 0) rd_kafka_topic_partition_list_add(l, opt_input, p)->offset = pending[p];
    return l;
}

static void clear_pending(void) {
    for (int p = 0; p < MAX_PARTITIONS; p++) pending[p] = -1;
    dirty = 0;
}

/* Any error from a transactional call: abort when the error allows it, then exit non-zero. */
static void txn_fail(const char *what, rd_kafka_error_t *error) {
    fprintf(stderr, "naive_pipeline: %s: %s (%s)\n", what, rd_kafka_error_string(error),
            rd_kafka_error_name(error));
    if (rd_kafka_error_txn_requires_abort(error)) {
        rd_kafka_error_t *e2 = rd_kafka_abort_transaction(producer, 10000);
        if (e2) {
            fprintf(stderr, "naive_pipeline: abort_transaction: %s\n", rd_kafka_error_string(e2));
            rd_kafka_error_destroy(e2);
        } else {
            fprintf(stderr, "naive_pipeline: transaction aborted\n");
        }
    }
    rd_kafka_error_destroy(error);
    die("%s failed", what);
}

/* Retriable errors (e.g. a timed-out commit) may be retried per the librdkafka docs. */
#define TXN_CALL(what, expr)                                                   \
    do {                                                                       \
        for (int attempt_ = 1;; attempt_++) {                                  \
            rd_kafka_error_t *e_ = (expr);                                     \
            if (!e_) break;                                                    \
            if (rd_kafka_error_is_retriable(e_) && attempt_ < 3) {             \
                fprintf(stderr, "naive_pipeline: %s: %s, retrying\n", what,    \
                        rd_kafka_error_string(e_));                            \
                rd_kafka_error_destroy(e_);                                    \
                continue;                                                      \
            }                                                                  \
            txn_fail(what, e_);                                                \
        }                                                                      \
    } while (0)

static void begin_txn(void) {
    TXN_CALL("begin_transaction", rd_kafka_begin_transaction(producer));
    txn_open = 1;
}

/* Commits everything processed so far. Transactional: ends the open transaction (with the
 * offsets when there are any) and, unless final, begins the next one. */
static void commit_once(int final);
static void commit_now(int final) {
    double t0 = now_s();
    int had_offsets = dirty;
    commit_once(final);
    double t1 = now_s(), d = t1 - t0;
    if (had_offsets) last_record_commit = t1;
    commit_secs += d;
    if (d > commit_max_secs) commit_max_secs = d;
}

static void commit_once(int final) {
    if (opt_txn_id) {
        if (!txn_open) return;
        if (!dirty && !final) return;
        if (dirty) {
            rd_kafka_topic_partition_list_t *offs = pending_offsets();
            rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(consumer);
            TXN_CALL("send_offsets_to_transaction",
                     rd_kafka_send_offsets_to_transaction(producer, offs, cgmd, 10000));
            rd_kafka_consumer_group_metadata_destroy(cgmd);
            rd_kafka_topic_partition_list_destroy(offs);
        }
        TXN_CALL("commit_transaction", rd_kafka_commit_transaction(producer, 30000));
        txn_open = 0;
        check_deliveries();
        if (dirty) n_commits++;
        clear_pending();
        if (!final) begin_txn();
    } else {
        if (!dirty) return;
        /* At-least-once: every decision of the committed inputs is acknowledged first. */
        rd_kafka_resp_err_t err = rd_kafka_flush(producer, 30000);
        if (err) die("flush before commit: %s", rd_kafka_err2str(err));
        check_deliveries();
        rd_kafka_topic_partition_list_t *offs = pending_offsets();
        err = rd_kafka_commit(consumer, offs, 0 /* sync */);
        if (err) die("offset commit: %s", rd_kafka_err2str(err));
        for (int i = 0; i < offs->cnt; i++)
            if (offs->elems[i].err)
                die("offset commit of partition %d: %s", offs->elems[i].partition,
                    rd_kafka_err2str(offs->elems[i].err));
        rd_kafka_topic_partition_list_destroy(offs);
        n_commits++;
        clear_pending();
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    (void)opaque;
    int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++) {
            int p = parts->elems[i].partition;
            if (p < 0 || p >= MAX_PARTITIONS) die("partition %d out of range", p);
            if (!assigned[p]) n_assigned++;
            assigned[p] = 1;
            at_eof[p] = 0;
        }
        fprintf(stderr, "naive_pipeline: assigned %d partition(s), %d in total\n", parts->cnt,
                n_assigned);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e) die("incremental_assign: %s", rd_kafka_error_string(e));
        } else {
            rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts);
            if (e) die("assign: %s", rd_kafka_err2str(e));
        }
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        /* Everything consumed so far is fully processed (batches are handled to the end
         * before the next consume call): commit it while we still own the partitions. */
        if (!rd_kafka_assignment_lost(rk)) commit_now(0);
        for (int i = 0; i < parts->cnt; i++) {
            int p = parts->elems[i].partition;
            if (p >= 0 && p < MAX_PARTITIONS && assigned[p]) { assigned[p] = 0; n_assigned--; }
            if (p >= 0 && p < MAX_PARTITIONS) pending[p] = -1;
        }
        fprintf(stderr, "naive_pipeline: revoked %d partition(s)\n", parts->cnt);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e) die("incremental_unassign: %s", rd_kafka_error_string(e));
        } else {
            rd_kafka_assign(rk, NULL);
        }
    } else {
        die("rebalance: %s", rd_kafka_err2str(err));
    }
}

/* ---- naive parsing ---------------------------------------------------------------------- */
/* Copies the string value of "name":"..." (no unescaping) into out; 0 when absent/too long. */
static int json_string(const char *json, const char *name, char *out, size_t outlen) {
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\":\"", name);
    const char *s = strstr(json, pat);
    if (!s) return 0;
    s += strlen(pat);
    const char *e = strchr(s, '"');
    if (!e || e == s || (size_t)(e - s) >= outlen) return 0;
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = 0;
    return 1;
}

static void parse_event(const rd_kafka_message_t *m, struct event *ev) {
    static char buf[MAX_VALUE + 1];
    ev->valid = 0;
    ev->partition = m->partition;
    ev->offset = m->offset;
    ev->event_id[0] = ev->uid[0] = 0;
    size_t len = m->len < MAX_VALUE ? m->len : MAX_VALUE;
    if (m->payload) memcpy(buf, m->payload, len); else len = 0;
    buf[len] = 0;
    json_string(buf, "event_id", ev->event_id, sizeof ev->event_id);
    if (!json_string(buf, "user_id", ev->uid, sizeof ev->uid)) return;
    const char *a = strstr(buf, "\"amount\":");
    if (!a) return;
    a += strlen("\"amount\":");
    char *end;
    errno = 0;
    ev->amount = strtod(a, &end);
    if (end == a || errno || end - a >= NUM_MAX) return;
    memcpy(ev->amount_txt, a, (size_t)(end - a));
    ev->amount_txt[end - a] = 0;
    ev->valid = 1;
}

/* ---- Redis ------------------------------------------------------------------------------ */
static redisReply *get_reply(void) {
    void *r = NULL;
    if (redisGetReply(redis, &r) != REDIS_OK || !r)
        die("redis: %s", redis->errstr[0] ? redis->errstr : "connection lost");
    redisReply *reply = r;
    if (reply->type == REDIS_REPLY_ERROR) die("redis error reply: %s", reply->str);
    return reply;
}

/* One pipelined round trip for the whole batch: 3 commands per valid event. */
static void redis_batch(struct event *evs, int n) {
    int cmds = 0;
    for (int i = 0; i < n; i++) {
        struct event *ev = &evs[i];
        if (!ev->valid) continue;
        char key[UID_MAX + 64];
        snprintf(key, sizeof key, "%s%s", opt_key_prefix, ev->uid);
        if (redisAppendCommand(redis, "HINCRBY %s count 1", key) != REDIS_OK ||
            redisAppendCommand(redis, "HINCRBYFLOAT %s amount_sum %s", key, ev->amount_txt) != REDIS_OK ||
            redisAppendCommand(redis, "HSET %s last_offset %" PRId64, key, ev->offset) != REDIS_OK)
            die("redis append: %s", redis->errstr);
        cmds += 3;
    }
    for (int i = 0; i < n; i++) {
        struct event *ev = &evs[i];
        if (!ev->valid) continue;
        redisReply *r = get_reply();
        if (r->type != REDIS_REPLY_INTEGER) die("HINCRBY: unexpected reply type %d", r->type);
        ev->count = r->integer;
        freeReplyObject(r);
        r = get_reply();
        if (r->type != REDIS_REPLY_STRING) die("HINCRBYFLOAT: unexpected reply type %d", r->type);
        snprintf(ev->amount_sum, sizeof ev->amount_sum, "%s", r->str);
        freeReplyObject(r);
        r = get_reply();
        if (r->type != REDIS_REPLY_INTEGER) die("HSET: unexpected reply type %d", r->type);
        freeReplyObject(r);
    }
    n_redis_commands += cmds;
}

/* ---- decisions -------------------------------------------------------------------------- */
static void produce(const char *key, size_t keylen, const char *val, size_t len) {
    for (;;) {
        if (rd_kafka_produce(out_topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)val,
                             len, key, keylen, NULL) == 0)
            break;
        rd_kafka_resp_err_t err = rd_kafka_last_error();
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) die("produce: %s", rd_kafka_err2str(err));
        rd_kafka_poll(producer, 10); /* let deliveries drain the queue */
    }
    n_produced++;
}

static void emit_decision(const struct event *ev) {
    char val[512];
    int len;
    if (!ev->valid) {
        len = snprintf(val, sizeof val,
                       "{\"schema\":\"ref-1\",\"event_id\":\"%s\",\"decision\":\"invalid\","
                       "\"source\":{\"topic\":\"%s\",\"partition\":%" PRId32 ",\"offset\":%" PRId64 "}}",
                       ev->event_id, opt_input, ev->partition, ev->offset);
        produce(NULL, 0, val, (size_t)len);
        return;
    }
    if (opt_kafka_only) {
        const char *decision = ev->amount > 500 ? "review" : "approve";
        len = snprintf(val, sizeof val,
                       "{\"schema\":\"ref-1\",\"event_id\":\"%s\",\"user_id\":\"%s\",\"decision\":\"%s\","
                       "\"amount\":%s,\"source\":{\"topic\":\"%s\",\"partition\":%" PRId32
                       ",\"offset\":%" PRId64 "}}",
                       ev->event_id, ev->uid, decision, ev->amount_txt, opt_input, ev->partition,
                       ev->offset);
    } else {
        /* A toy rule on the state just written: review amounts far above the user's mean. */
        double mean = strtod(ev->amount_sum, NULL) / (double)(ev->count > 0 ? ev->count : 1);
        const char *decision = ev->count > 3 && ev->amount > 3 * mean ? "review" : "approve";
        len = snprintf(val, sizeof val,
                       "{\"schema\":\"ref-1\",\"event_id\":\"%s\",\"user_id\":\"%s\",\"decision\":\"%s\","
                       "\"count\":%lld,\"amount_sum\":%s,\"source\":{\"topic\":\"%s\",\"partition\":%" PRId32
                       ",\"offset\":%" PRId64 "}}",
                       ev->event_id, ev->uid, decision, ev->count, ev->amount_sum, opt_input,
                       ev->partition, ev->offset);
    }
    produce(ev->uid, strlen(ev->uid), val, (size_t)len);
}

/* ---- main ------------------------------------------------------------------------------- */
static void usage(void) {
    fprintf(stderr,
            "usage: naive_pipeline [--kafka-only] [--bootstrap HOST:PORT] [--redis HOST:PORT]\n"
            "         [--input TOPIC] [--output TOPIC] [--group ID] [--transactional-id ID]\n"
            "         [--commit-interval-ms MS] [--batch N] [--exit-at-end] [--expected N]\n"
            "         [--key-prefix PREFIX]\n");
    exit(2);
}

static void on_signal(int sig) { (void)sig; stop_requested = 1; }

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define ARG() (i + 1 < argc ? argv[++i] : (usage(), ""))
        if (!strcmp(a, "--kafka-only")) opt_kafka_only = 1;
        else if (!strcmp(a, "--exit-at-end")) opt_exit_at_end = 1;
        else if (!strcmp(a, "--bootstrap")) opt_bootstrap = ARG();
        else if (!strcmp(a, "--redis")) opt_redis = ARG();
        else if (!strcmp(a, "--input")) opt_input = ARG();
        else if (!strcmp(a, "--output")) opt_output = ARG();
        else if (!strcmp(a, "--group")) opt_group = ARG();
        else if (!strcmp(a, "--transactional-id")) opt_txn_id = ARG();
        else if (!strcmp(a, "--key-prefix")) opt_key_prefix = ARG();
        else if (!strcmp(a, "--commit-interval-ms")) opt_commit_interval_ms = atoi(ARG());
        else if (!strcmp(a, "--batch")) opt_batch = atoi(ARG());
        else if (!strcmp(a, "--expected")) opt_expected = atoll(ARG());
        else usage();
#undef ARG
    }
    if (opt_batch <= 0 || opt_commit_interval_ms <= 0) usage();
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    clear_pending();
    char errstr[512];

    fprintf(stderr, "naive_pipeline: librdkafka %s, %s, %s\n", rd_kafka_version_str(),
            opt_kafka_only ? "kafka-only" : "kafka+redis",
            opt_txn_id ? "transactional" : "idempotent + offset commits");

    /* Redis */
    if (!opt_kafka_only) {
        char host[256];
        int port;
        split_host_port(opt_redis, host, sizeof host, &port);
        redis = redisConnect(host, port);
        if (!redis || redis->err) die("redis connect %s: %s", opt_redis, redis ? redis->errstr : "oom");
        redisReply *r = redisCommand(redis, "PING");
        if (!r || r->type == REDIS_REPLY_ERROR) die("redis PING failed");
        freeReplyObject(r);
    }

    /* Producer */
    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    set_conf(pconf, "bootstrap.servers", opt_bootstrap);
    set_conf(pconf, "client.id", "naive-pipeline-producer");
    if (opt_txn_id) set_conf(pconf, "transactional.id", opt_txn_id);
    else set_conf(pconf, "enable.idempotence", "true");
    rd_kafka_conf_set_dr_msg_cb(pconf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(pconf, error_cb);
    producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof errstr);
    if (!producer) die("producer: %s", errstr);
    out_topic = rd_kafka_topic_new(producer, opt_output, NULL);
    if (opt_txn_id) {
        TXN_CALL("init_transactions", rd_kafka_init_transactions(producer, 30000));
        begin_txn();
    }

    /* Consumer */
    rd_kafka_conf_t *cconf = rd_kafka_conf_new();
    set_conf(cconf, "bootstrap.servers", opt_bootstrap);
    set_conf(cconf, "client.id", "naive-pipeline-consumer");
    set_conf(cconf, "group.id", opt_group);
    set_conf(cconf, "session.timeout.ms", "2000");
    set_conf(cconf, "heartbeat.interval.ms", "200");
    set_conf(cconf, "partition.assignment.strategy", "range");
    set_conf(cconf, "isolation.level", "read_committed");
    set_conf(cconf, "auto.offset.reset", "earliest");
    set_conf(cconf, "enable.auto.commit", "false");
    set_conf(cconf, "enable.auto.offset.store", "false");
    set_conf(cconf, "enable.partition.eof", opt_exit_at_end ? "true" : "false");
    rd_kafka_conf_set_rebalance_cb(cconf, rebalance_cb);
    rd_kafka_conf_set_error_cb(cconf, error_cb);
    consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, errstr, sizeof errstr);
    if (!consumer) die("consumer: %s", errstr);
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, opt_input, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer, sub);
    if (err) die("subscribe %s: %s", opt_input, rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(sub);
    rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(consumer);

    rd_kafka_message_t **msgs = calloc((size_t)opt_batch, sizeof *msgs);
    struct event *evs = calloc((size_t)opt_batch, sizeof *evs);
    if (!msgs || !evs) die("out of memory");

    double t_first = 0, last_commit = now_s();
    int started = 0;
    for (;;) {
        if (stop_requested) { fprintf(stderr, "naive_pipeline: interrupted\n"); break; }
        double until_commit_ms = (last_commit + opt_commit_interval_ms / 1000.0 - now_s()) * 1000;
        int timeout = until_commit_ms < 1 ? 1 : until_commit_ms > 100 ? 100 : (int)until_commit_ms;
        ssize_t got = rd_kafka_consume_batch_queue(queue, timeout, msgs, (size_t)opt_batch);
        if (got < 0) die("consume: %s", rd_kafka_err2str(rd_kafka_last_error()));

        int nev = 0;
        for (ssize_t i = 0; i < got; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (m->partition >= 0 && m->partition < MAX_PARTITIONS) at_eof[m->partition] = 1;
            } else if (m->err) {
                /* Consumer errors are reported here; none of them is expected in a test run. */
                die("consumer: %s", rd_kafka_message_errstr(m));
            } else if (opt_expected < 0 || n_events + nev < opt_expected) {
                if (!started) { started = 1; t_first = now_s(); }
                if (m->partition >= 0 && m->partition < MAX_PARTITIONS) at_eof[m->partition] = 0;
                parse_event(m, &evs[nev++]);
            }
        }
        if (nev > 0) {
            if (!opt_kafka_only) redis_batch(evs, nev);
            for (int i = 0; i < nev; i++) {
                emit_decision(&evs[i]);
                if (!evs[i].valid) n_invalid++;
                pending[evs[i].partition] = evs[i].offset + 1;
            }
            n_events += nev;
            dirty = 1;
        }
        for (ssize_t i = 0; i < got; i++) rd_kafka_message_destroy(msgs[i]);
        rd_kafka_poll(producer, 0); /* delivery reports */
        check_deliveries();

        if (opt_expected >= 0 && n_events >= opt_expected) break;
        if (opt_exit_at_end && n_assigned > 0) {
            int all = 1;
            for (int p = 0; p < MAX_PARTITIONS && all; p++)
                if (assigned[p] && !at_eof[p]) all = 0;
            if (all) break;
        }
        if (now_s() - last_commit >= opt_commit_interval_ms / 1000.0) {
            commit_now(0);
            last_commit = now_s();
        }
    }

    commit_now(1);
    if (!opt_txn_id) {
        err = rd_kafka_flush(producer, 30000);
        if (err) die("flush: %s", rd_kafka_err2str(err));
    }
    /* Like Sluice's summary: up to the last commit that carried offsets, so an idle wait for
     * end-of-partition events after everything was committed is not counted. */
    double t_end = last_record_commit;
    check_deliveries();
    if (n_delivered != n_produced)
        die("produced %lld decisions but %lld delivered", n_produced, (long long)n_delivered);
    double secs = started ? t_end - t_first : 0;
    fprintf(stderr,
            "naive_pipeline: consumed %lld (invalid %lld), produced and delivered %lld, "
            "commits %lld (%.0f ms in commits, longest %.1f ms), redis commands %lld\n",
            n_events, n_invalid, n_produced, n_commits, commit_secs * 1000, commit_max_secs * 1000,
            n_redis_commands);
    printf("events=%lld seconds=%.3f rate=%.0f\n", n_events, secs, secs > 0 ? n_events / secs : 0.0);
    fflush(stdout);

    rd_kafka_queue_destroy(queue);
    err = rd_kafka_consumer_close(consumer);
    if (err) fprintf(stderr, "naive_pipeline: consumer close: %s\n", rd_kafka_err2str(err));
    rd_kafka_destroy(consumer);
    rd_kafka_topic_destroy(out_topic);
    rd_kafka_destroy(producer);
    if (redis) redisFree(redis);
    free(msgs);
    free(evs);
    return 0;
}
