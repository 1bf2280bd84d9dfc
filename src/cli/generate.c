/* cli/generate.c: `cada generate` (text in, streamed text out) and `cada bench
 * generate` (prefill and decode throughput; --weights bf16: each measurement with the
 * fp32 weights and then a bf16 copy, model/infer_weights.h). The tokenizer comes from the model's own
 * files: the vocabulary embedded in a GGUF, or tokenizer.json beside config.json. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include "base/cpu.h"
#include "base/log.h"
#include "model/infer_weights.h"
#include "model/load.h"
#include "rollout/engine.h"
#include "tok/tokenizer.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define MAX_STOP 8

typedef struct {
    const cada_tokenizer *tok;
    int stream;             /* print text as it is generated (one sample, no --json) */
    cada_tok_stream decoder;
    cada_tok_bytes *text;   /* (n requests) raw decoded bytes so far, for stop strings */
    const char *stop[MAX_STOP];
    int n_stop;
    cada_status error;
} gen_ctx;

static void on_token(void *p, int request, int token, float logprob) {
    (void)logprob;
    gen_ctx *g = p;
    if (g->error != CADA_OK) return;
    if (g->n_stop) g->error = cada_tok_decode(g->tok, &token, 1, 0, &g->text[request]);
    if (g->stream) {
        cada_tok_bytes out = {0};
        if (cada_tok_stream_push(g->tok, &g->decoder, token, CADA_TOK_SKIP_SPECIAL, &out) == CADA_OK && out.len) {
            fwrite(out.data, 1, out.len, stdout);
            fflush(stdout);
        }
        cada_tok_bytes_free(&out);
    }
}

/* A stop string counts once it appears in the generated text; only the tail that the
 * last token can have completed is searched. */
static int on_stop(void *p, int request, const int *tokens, int n) {
    (void)tokens;
    (void)n;
    gen_ctx *g = p;
    const cada_tok_bytes *t = &g->text[request];
    for (int i = 0; i < g->n_stop; i++) {
        size_t k = strlen(g->stop[i]);
        size_t from = t->len > k + 64 ? t->len - k - 64 : 0;
        for (size_t at = from; at + k <= t->len; at++)
            if (!memcmp(t->data + at, g->stop[i], k)) return 1;
    }
    return 0;
}

/* Prompt ids: the chat template with an optional system message, or the raw text. */
static cada_status encode_prompt(const cada_tokenizer *tok, const char *system, const char *prompt, int chat,
                                 cada_tok_ids *ids) {
    if (!chat) return cada_tok_encode(tok, prompt, strlen(prompt), CADA_TOK_ADD_SPECIAL | cada_tok_config_flags(tok), ids);
    cada_chat_msg msgs[2];
    size_t n = 0;
    if (system) msgs[n++] = (cada_chat_msg){"system", system};
    msgs[n++] = (cada_chat_msg){"user", prompt};
    cada_tok_bytes text = {0};
    cada_status st = cada_tok_chat_render(tok, msgs, n, CADA_CHAT_ADD_GENERATION_PROMPT, &text);
    /* the template is trusted text: its special tokens must be read as such */
    if (st == CADA_OK) st = cada_tok_encode(tok, text.data, text.len, 0, ids);
    cada_tok_bytes_free(&text);
    return st;
}

static void json_string(FILE *f, const char *s, size_t len) {
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

int cada_cmd_generate(int argc, char **argv) {
    const char *model_path = cada_cli_default_model(), *prompt = NULL, *system = NULL;
    int chat = 0, json = 0, max_tokens = 128, samples = 1, max_len = 2048;
    unsigned tok_flags = 0;
    cada_engine_config ec;
    memset(&ec, 0, sizeof ec);
    ec.sampling.temperature = 0.0f;
    ec.sampling.top_p = 1.0f;
    gen_ctx g;
    memset(&g, 0, sizeof g);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--model") && more) model_path = argv[++i];
        else if (!strcmp(a, "--prompt") && more) prompt = argv[++i];
        else if (!strcmp(a, "--system") && more) system = argv[++i];
        else if (!strcmp(a, "--chat")) chat = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--max-tokens") && more) max_tokens = atoi(argv[++i]);
        else if (!strcmp(a, "--max-len") && more) max_len = atoi(argv[++i]);
        else if (!strcmp(a, "--temperature") && more) ec.sampling.temperature = (float)atof(argv[++i]);
        else if (!strcmp(a, "--top-p") && more) ec.sampling.top_p = (float)atof(argv[++i]);
        else if (!strcmp(a, "--top-k") && more) ec.sampling.top_k = atoi(argv[++i]);
        else if (!strcmp(a, "--seed") && more) ec.seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "-n") && more) samples = atoi(argv[++i]);
        else if (!strcmp(a, "--stop") && more && g.n_stop < MAX_STOP) g.stop[g.n_stop++] = argv[++i];
        else if (!strcmp(a, "--gguf-tokenizer") && more) {
            if (cada_tok_gguf_mode_parse(argv[++i], &tok_flags) != CADA_OK) {
                fprintf(stderr, "cada generate: --gguf-tokenizer: %s\n", cada_error_message());
                return 2;
            }
        } else {
            prompt = NULL;
            break;
        }
    }
    if (!prompt || max_tokens <= 0 || samples <= 0 || samples > 4096 || max_len <= 1 || ec.sampling.temperature < 0 ||
        !(ec.sampling.top_p > 0 && ec.sampling.top_p <= 1) || ec.sampling.top_k < 0) {
        fprintf(stderr,
                "usage: cada generate --prompt TEXT [--model PATH] [--system TEXT] [--chat] [--max-tokens 128]\n"
                "                     [--temperature 0 (greedy)] [--top-p 1] [--top-k 0] [--seed 0] [-n 1]\n"
                "                     [--stop STRING]... [--max-len 2048] [--json] [--gguf-tokenizer llama.cpp|transformers]\n"
                "  --gguf-tokenizer: how a GGUF vocabulary is pre-tokenized: as its tokenizer.ggml.pre says, like\n"
                "  llama.cpp (default), or as transformers' GGUF loader does (plain GPT-2 ByteLevel)\n");
        return 2;
    }
    if (system && !chat) {
        fprintf(stderr, "cada generate: --system needs --chat\n");
        return 2;
    }
    cada_model m;
    cada_tokenizer *tok = NULL;
    cada_tok_ids ids = {0};
    cada_gen_result *res = NULL;
    cada_gen_request *reqs = NULL;
    int rc = 0;
    if (cada_model_load(&m, model_path) != CADA_OK) return cada_cli_fail("generate");
    if (cada_tok_load(&tok, model_path, tok_flags) != CADA_OK || encode_prompt(tok, system, prompt, chat, &ids) != CADA_OK) {
        rc = cada_cli_fail("generate");
        goto done;
    }
    int eos[2];
    ec.n_eos = cada_eos_ids(cada_tok_eos_id(tok), m.cfg.eos_token_id, eos);
    ec.eos_ids = eos;
    ec.n_slots = samples < 16 ? samples : 16;
    ec.max_len = max_len;
    g.tok = tok;
    g.stream = samples == 1 && !json;
    cada_tok_stream_init(&g.decoder);
    g.text = calloc((size_t)samples, sizeof *g.text);
    reqs = calloc((size_t)samples, sizeof *reqs);
    res = calloc((size_t)samples, sizeof *res);
    if (!g.text || !reqs || !res) {
        fprintf(stderr, "cada generate: out of memory\n");
        rc = 1;
        goto done;
    }
    for (int s = 0; s < samples; s++)
        reqs[s] = (cada_gen_request){0, (uint32_t)s, ids.ids, (int)ids.n, max_tokens};
    ec.on_token = on_token;
    ec.stop = g.n_stop ? on_stop : NULL;
    ec.ctx = &g;
    cada_engine_stats stats;
    double t0 = cada_now();
    if (cada_generate(&m, &ec, reqs, samples, res, &stats) != CADA_OK || g.error != CADA_OK) {
        if (g.stream) printf("\n");
        rc = cada_cli_fail("generate");
        goto done;
    }
    double dt = cada_now() - t0;
    if (g.stream) {
        cada_tok_bytes tail = {0};
        if (cada_tok_stream_finish(&g.decoder, &tail) == CADA_OK && tail.len) fwrite(tail.data, 1, tail.len, stdout);
        cada_tok_bytes_free(&tail);
        printf("\n");
        fflush(stdout);
    }
    long generated = 0;
    for (int s = 0; s < samples; s++) {
        generated += res[s].n;
        if (g.stream) continue;
        cada_tok_bytes raw = {0}, text = {0};
        cada_tok_decode(tok, res[s].tokens, (size_t)res[s].n, CADA_TOK_SKIP_SPECIAL, &raw);
        cada_tok_utf8_lossy(raw.data ? raw.data : "", raw.len, &text);
        if (json) {
            printf("{\"sample\": %d, \"finish\": \"%s\", \"prompt_tokens\": %zu, \"tokens\": [", s,
                   cada_finish_name(res[s].finish), ids.n);
            for (int i = 0; i < res[s].n; i++) printf("%s%d", i ? ", " : "", res[s].tokens[i]);
            printf("], \"logprobs\": [");
            for (int i = 0; i < res[s].n; i++) printf("%s%.6g", i ? ", " : "", (double)res[s].logprobs[i]);
            printf("], \"text\": ");
            json_string(stdout, text.data ? text.data : "", text.len);
            printf("}\n");
        } else {
            printf("--- sample %d (%s, %d tokens)\n%s\n", s, cada_finish_name(res[s].finish), res[s].n,
                   text.data ? text.data : "");
        }
        cada_tok_bytes_free(&raw);
        cada_tok_bytes_free(&text);
    }
    fprintf(stderr, "[%zu prompt tokens, %ld generated in %.2fs: prefill %.0f tokens/s, decode %.1f tokens/s; finish %s]\n",
            ids.n, generated, dt, stats.prefill_seconds > 0 ? stats.prefill_tokens / stats.prefill_seconds : 0.0,
            stats.decode_seconds > 0 ? (generated - samples) / stats.decode_seconds : 0.0, cada_finish_name(res[0].finish));
done:
    if (res)
        for (int s = 0; s < samples; s++) cada_gen_result_free(&res[s]);
    if (g.text)
        for (int s = 0; s < samples; s++) cada_tok_bytes_free(&g.text[s]);
    free(g.text);
    free(res);
    free(reqs);
    cada_tok_ids_free(&ids);
    cada_tok_free(tok);
    cada_model_free(&m);
    return rc;
}

/* ---- cada bench generate ------------------------------------------------------------ */

static int read_prompts(const char *path, char lines[][4096], int cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    while (n < cap && fgets(lines[n], 4096, f)) {
        size_t len = strlen(lines[n]);
        while (len && (lines[n][len - 1] == '\n' || lines[n][len - 1] == '\r')) lines[n][--len] = 0;
        if (len) n++;
    }
    fclose(f);
    return n;
}

/* Runs one configuration and prints its line. eos stopping is off so every sequence
 * decodes its full budget (decode rates compare equal work). With samples > 1 the
 * requests come in groups of that many samples of one prompt (as a rollout makes them),
 * sampled at temperature 1 so the samples differ. */
typedef struct {
    const char *what; /* prefill | decode | rollout */
    int batch, n_reqs, new_tokens, samples, kv_blocks, no_prefix_cache;
} bench_job;

static int bench_run(const cada_model *m, cada_tok_ids *prompts, int n_prompts, bench_job j, double *rate) {
    const char *what = j.what;
    const int batch = j.batch, n_reqs = j.n_reqs, new_tokens = j.new_tokens, samples = j.samples, kv_blocks = j.kv_blocks,
              no_prefix_cache = j.no_prefix_cache;
    const char *weights = m->bf16 ? "bf16" : "fp32";
    cada_gen_request *reqs = calloc((size_t)n_reqs, sizeof *reqs);
    cada_gen_result *res = calloc((size_t)n_reqs, sizeof *res);
    if (!reqs || !res) {
        free(reqs);
        free(res);
        return 1;
    }
    int longest = 0;
    for (int i = 0; i < n_reqs; i++) {
        cada_tok_ids *p = &prompts[(i / samples) % n_prompts];
        reqs[i] = (cada_gen_request){(uint64_t)(i / samples), (uint32_t)(i % samples), p->ids, (int)p->n, new_tokens};
        longest = (int)p->n > longest ? (int)p->n : longest;
    }
    cada_engine_config ec;
    memset(&ec, 0, sizeof ec);
    ec.sampling.temperature = samples > 1 ? 1.0f : 0.0f;
    ec.sampling.top_p = 1.0f;
    ec.n_slots = batch;
    ec.max_len = longest + new_tokens + 1;
    ec.kv_blocks = kv_blocks;
    ec.no_prefix_cache = no_prefix_cache;
    cada_engine_stats st;
    double t0 = cada_now();
    cada_status s = cada_generate(m, &ec, reqs, n_reqs, res, &st);
    double dt = cada_now() - t0;
    int rc = 0;
    if (s != CADA_OK) {
        rc = cada_cli_fail("bench generate");
    } else if (!strcmp(what, "prefill")) {
        *rate = st.prefill_tokens / st.prefill_seconds;
        printf("cada prefill tokens/s %.1f (weights %s, batch %d, %ld prompt tokens in %.3f s)\n", *rate, weights, batch,
               st.prefill_tokens, st.prefill_seconds);
    } else if (!strcmp(what, "decode")) {
        /* the first token of each sequence comes from the prefill call */
        long decoded = st.decode_tokens - batch;
        *rate = decoded / st.decode_seconds;
        printf("cada decode tokens/s %.1f (weights %s, batch %d, %ld tokens in %.3f s of decode steps; %.3f s total; KV cache "
               "%.1f MiB)\n",
               *rate, weights, batch, decoded, st.decode_seconds, dt, (double)st.cache_bytes / (1 << 20));
    } else { /* rollout: everything a rollout pays for, prefills included */
        *rate = st.decode_tokens / dt;
        printf("cada rollout tokens/s %.1f (weights %s, %d slots, %d samples per prompt, %ld tokens generated in %.3f s; %ld prompt "
               "tokens prefilled; KV cache %.1f MiB)\n",
               *rate, weights, batch, samples, st.decode_tokens, dt, st.prefill_tokens, (double)st.cache_bytes / (1 << 20));
        printf("  pool %d blocks, peak %d in use; %d preemptions, %ld tokens recomputed\n", st.cache_blocks,
               st.cache_blocks_peak, st.preemptions, st.recomputed_tokens);
        printf("  prefix cache %s: %ld prompt tokens found (not prefilled), %ld blocks evicted; %ld shared by samples\n",
               no_prefix_cache ? "off" : "on", st.prefix_hit_tokens, st.prefix_evictions, st.shared_prompt_tokens);
    }
    for (int i = 0; i < n_reqs; i++) cada_gen_result_free(&res[i]);
    free(reqs);
    free(res);
    return rc;
}

/* Runs job with the fp32 weights, then (pack given) with the bf16 pack, back to back on
 * the same requests: on a shared machine the rates drift between runs minutes apart, so
 * the pair is the comparison (print: also the ratio). */
static int bench_pair(cada_model *m, cada_infer_weights *pack, cada_tok_ids *prompts, int n_prompts, bench_job j, int print) {
    double fp32 = 0, bf16 = 0;
    m->bf16 = NULL;
    int rc = bench_run(m, prompts, n_prompts, j, &fp32);
    if (rc || !pack) return rc;
    m->bf16 = pack;
    rc = bench_run(m, prompts, n_prompts, j, &bf16);
    m->bf16 = NULL;
    if (!rc && print && fp32 > 0) printf("  %s bf16 / fp32: %.2fx\n", j.what, bf16 / fp32);
    return rc;
}

int cada_cmd_bench_generate(int argc, char **argv) {
    const char *model_path = cada_cli_default_model(), *prompt_file = "tests/data/bench_prompts.txt";
    const char *system_file = NULL;
    int new_tokens = 64, big_batch = 16, samples = 0, requests = 0, kv_blocks = 0, no_prefix_cache = 0, bf16 = 0;
    unsigned tok_flags = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model_path = argv[++i];
        else if (!strcmp(argv[i], "--gguf-tokenizer") && i + 1 < argc) {
            if (cada_tok_gguf_mode_parse(argv[++i], &tok_flags) != CADA_OK) {
                fprintf(stderr, "cada bench generate: --gguf-tokenizer: %s\n", cada_error_message());
                return 2;
            }
        }
        else if (!strcmp(argv[i], "--prompts") && i + 1 < argc) prompt_file = argv[++i];
        else if (!strcmp(argv[i], "--new-tokens") && i + 1 < argc) new_tokens = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) big_batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--samples") && i + 1 < argc) samples = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--requests") && i + 1 < argc) requests = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--kv-blocks") && i + 1 < argc) kv_blocks = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--system-file") && i + 1 < argc) system_file = argv[++i];
        else if (!strcmp(argv[i], "--no-prefix-cache")) no_prefix_cache = 1;
        else if (!strcmp(argv[i], "--weights") && i + 1 < argc && (!strcmp(argv[i + 1], "fp32") || !strcmp(argv[i + 1], "bf16")))
            bf16 = !strcmp(argv[++i], "bf16");
        else {
            fprintf(stderr, "usage: cada bench generate [--model PATH] [--prompts FILE] [--new-tokens 64] [--batch 16]\n"
                            "                           [--gguf-tokenizer llama.cpp|transformers]\n"
                            "                           [--samples N [--requests R]]  (rollout: R requests, N samples per\n"
                            "                           prompt, in --batch slots; R defaults to 4 x batch)\n"
                            "                           [--kv-blocks B]  (rollout: a pool of B blocks of %d positions;\n"
                            "                           default room for --batch sequences; --batch 0 with it: as memory\n"
                            "                           allows)\n"
                            "                           [--system-file FILE]  (FILE's text is every prompt's system turn:\n"
                            "                           a prefix all requests share, as a CADA rollout's)\n"
                            "                           [--no-prefix-cache]  (rollout: prefill shared prefixes again)\n"
                            "                           [--weights fp32|bf16]  (bf16: each measurement with fp32 weights,\n"
                            "                           then a bf16 copy (rollout.weights = bf16), and their ratio)\n",
                    CADA_KV_BLOCK_TOKENS);
            return 2;
        }
    }
    static char lines[64][4096];
    int n = read_prompts(prompt_file, lines, 64);
    if (samples < 0 || requests < 0 || kv_blocks < 0) {
        fprintf(stderr, "cada bench generate: --samples, --requests and --kv-blocks must be positive\n");
        return 2;
    }
    if (big_batch < 0 || (big_batch == 0 && (samples == 0 || kv_blocks == 0))) {
        fprintf(stderr, "cada bench generate: --batch must be positive (0, as memory allows, needs --samples and --kv-blocks)\n");
        return 2;
    }
    if (n <= 0 || new_tokens <= 0) {
        fprintf(stderr, "cada bench generate: no prompts in %s (one per line)\n", prompt_file);
        return 1;
    }
    char *system = NULL;
    if (system_file) {
        FILE *f = fopen(system_file, "rb");
        long size = -1;
        if (f && fseek(f, 0, SEEK_END) == 0) size = ftell(f);
        if (size >= 0 && fseek(f, 0, SEEK_SET) == 0 && (system = calloc((size_t)size + 1, 1)) &&
            fread(system, 1, (size_t)size, f) != (size_t)size) {
            free(system);
            system = NULL;
        }
        if (f) fclose(f);
        if (!system) {
            fprintf(stderr, "cada bench generate: --system-file %s: cannot read it\n", system_file);
            return 1;
        }
    }
    cada_model m;
    cada_tokenizer *tok = NULL;
    cada_tok_ids ids[64];
    memset(ids, 0, sizeof ids);
    int rc = 0;
    if (cada_model_load(&m, model_path) != CADA_OK) {
        free(system);
        return cada_cli_fail("bench generate");
    }
    if (cada_tok_load(&tok, model_path, tok_flags) != CADA_OK) {
        rc = cada_cli_fail("bench generate");
        goto done;
    }
    for (int i = 0; i < n; i++)
        if (encode_prompt(tok, system, lines[i], 1, &ids[i]) != CADA_OK) {
            rc = cada_cli_fail("bench generate");
            goto done;
        }
    cada_cpu_kernels kern;
    if (cada_cpu_kernels_active(&kern) != CADA_OK) {
        rc = cada_cli_fail("bench generate");
        goto done;
    }
    printf("cada bench generate: %s, %d chat prompts from %s, %d new tokens, greedy, threads %d, bf16 kernels %s\n", model_path,
           n, prompt_file, new_tokens, omp_get_max_threads(), cada_cpu_kernels_name(kern));
    if (system) printf("  system turn from %s: %d tokens in the first prompt\n", system_file, (int)ids[0].n);
    /* warm-up: page in the weights and size the allocator */
    cada_infer_weights *pack = NULL;
    if (bf16) { /* packed once: cada_model_infer reads it while m.bf16 points at it */
        double t0 = cada_now();
        if (cada_infer_weights_pack(&m, 0) != CADA_OK) {
            rc = cada_cli_fail("bench generate");
            goto done;
        }
        pack = m.bf16;
        m.bf16 = NULL;
        printf("  bf16 weights: %.1f MB packed in %.3f s; each measurement runs fp32 (the peer), then bf16\n", pack->bytes / 1e6,
               cada_now() - t0);
    }
    /* warm-up: page in the weights (both copies) and size the allocator */
    rc = bench_pair(&m, pack, ids, n, (bench_job){"decode", 1, 1, 4, 1, 0, no_prefix_cache}, 0);
    if (samples > 0) { /* the rollout measurement only */
        int n_reqs = requests > 0 ? requests : 4 * (big_batch > 0 ? big_batch : 16);
        if (!rc)
            rc = bench_pair(&m, pack, ids, n, (bench_job){"rollout", big_batch, n_reqs, new_tokens, samples, kv_blocks, no_prefix_cache}, 1);
        goto rss;
    }
    if (!rc) rc = bench_pair(&m, pack, ids, n, (bench_job){"prefill", 1, 1, 1, 1, 0, no_prefix_cache}, 1);
    if (!rc) rc = bench_pair(&m, pack, ids, n, (bench_job){"decode", 1, 1, new_tokens, 1, 0, no_prefix_cache}, 1);
    if (!rc) rc = bench_pair(&m, pack, ids, n, (bench_job){"decode", big_batch, big_batch, new_tokens, 1, 0, no_prefix_cache}, 1);
rss:;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %.1f MiB\n", ru.ru_maxrss / 1024.0);
    m.bf16 = pack; /* freed with the model */
done:
    for (int i = 0; i < n; i++) cada_tok_ids_free(&ids[i]);
    cada_tok_free(tok);
    cada_model_free(&m);
    free(system);
    return rc;
}
