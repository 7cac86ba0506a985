/*
 * history_cmd.c - `strata history BUCKET_FLAGS [--block=ULID] [--since=DURATION]
 * [--output=text|json] [--now=RFC3339]`: read back the history each run keeps under
 * _strata/runs/ (history.c). Without --block, one line per run: start, shard, actions, exit code
 * (or "incomplete" when the run never wrote its summary: killed, or still running) and outcomes
 * by type. With --block, every action that names the block as an input, or created it, or
 * quarantined it: the run, the action, the reason (the rule and the setting) and the outcome.
 * --output=json prints the matching lines as stored. A history object that cannot be read is
 * reported with its key and skipped; the exit code is then 1.
 */
#include "compactor_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <string.h>

#include <jansson.h>

static void usage(void)
{
    fprintf(stderr, "usage: strata history (--objstore.config-file=F | --objstore.config=YAML | "
                    "--bucket=DIR)\n"
                    "                      [--block=ULID] [--since=DURATION] "
                    "[--output=text|json] [--now=RFC3339]\n");
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static json_int_t num(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static int kind_is(const json_t *o, const char *k)
{
    return strcmp(str(o, "kind"), k) == 0;
}

/* 1 if the array o[k] holds the string id. */
static int names(const json_t *o, const char *k, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(o, k), i, v)
    {
        if (strcmp(json_string_value(v) ? json_string_value(v) : "", id) == 0)
            return 1;
    }
    return 0;
}

static int type_index(const char *name)
{
    for (int t = 0; t < PLANNER_ACT_NTYPES; t++)
        if (strcmp(planner_action_type_name((planner_action_type)t), name) == 0)
            return t;
    return -1;
}

/* ---- one run: a history object read back ------------------------------------------------- */

typedef struct run_view {
    const char *key;
    history_lines l;
    const json_t *run, *summary;      /* borrowed from l; NULL when absent */
    const json_t **action, **outcome; /* by n, [0, maxn] */
    size_t maxn;
} run_view;

/* Index the action and outcome lines by n, which must lie within the plan the run line counts
 * (or, without one, the lines there are): a line with another n is counted as unreadable. */
static int view_index(run_view *r)
{
    for (size_t i = 0; i < r->l.n; i++) {
        const json_t *o = r->l.v[i];
        if (kind_is(o, "run") && !r->run)
            r->run = o;
        else if (kind_is(o, "summary"))
            r->summary = o;
    }
    json_int_t planned = r->run ? num(r->run, "planned") : (json_int_t)r->l.n;
    size_t limit = planned > 0 && planned <= HISTORY_MAX_PLANNED ? (size_t)planned : 0;
    for (size_t i = 0; i < r->l.n; i++) {
        const json_t *o = r->l.v[i];
        json_int_t n = num(o, "n");
        if (!json_object_get(o, "n"))
            continue;
        if (n > 0 && (size_t)n <= limit) {
            r->maxn = ST_MAX(r->maxn, (size_t)n);
        } else if (!r->l.nbad++) {
            snprintf(r->l.bad, sizeof(r->l.bad),
                     "%s: line %zu: n=%" JSON_INTEGER_FORMAT
                     " is not within the %zu actions planned",
                     r->key, i + 1, n, limit);
        }
    }
    r->action = st_calloc(r->maxn + 1, sizeof(*r->action));
    r->outcome = st_calloc(r->maxn + 1, sizeof(*r->outcome));
    if (!r->action || !r->outcome) {
        st_free(r->action);
        st_free(r->outcome);
        r->action = NULL;
        r->outcome = NULL;
        return ST_ENOMEM;
    }
    for (size_t i = 0; i < r->l.n; i++) {
        const json_t *o = r->l.v[i];
        json_int_t n = num(o, "n");
        if (n <= 0 || (size_t)n > r->maxn)
            continue;
        if (kind_is(o, "action"))
            r->action[n] = o;
        else if (kind_is(o, "outcome"))
            r->outcome[n] = o;
    }
    return 0;
}

static void view_release(run_view *r)
{
    history_lines_release(&r->l);
    st_free(r->action);
    st_free(r->outcome);
}

static int print_line(const json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s)
        return ST_ENOMEM;
    puts(s);
    free(s);
    return 0;
}

/* ---- text --------------------------------------------------------------------------------------
 */

/* "compact 3 ok, 1 skipped; retention 2 ok" from the outcome lines (planned types when none). */
static void outcomes_text(const run_view *r, st_buf *b)
{
    size_t cnt[PLANNER_ACT_NTYPES][OUT_N + 1];
    size_t planned[PLANNER_ACT_NTYPES], nout = 0;
    memset(cnt, 0, sizeof(cnt));
    memset(planned, 0, sizeof(planned));
    for (size_t n = 1; n <= r->maxn; n++) {
        int t = r->action[n] ? type_index(str(r->action[n], "type")) : -1;
        if (t >= 0)
            planned[t]++;
        if (!r->outcome[n] || (t = type_index(str(r->outcome[n], "type"))) < 0)
            continue;
        size_t o = 0;
        while (o < OUT_N && strcmp(outcome_names[o], str(r->outcome[n], "outcome")) != 0)
            o++;
        cnt[t][o]++;
        nout++;
    }
    const char *sep = "";
    for (int t = 0; t < PLANNER_ACT_NTYPES; t++) {
        const char *name = planner_action_type_name((planner_action_type)t);
        if (!nout && planned[t]) {
            st_buf_printf(b, "%s%s: %zu planned", sep, name, planned[t]);
            sep = "; ";
        }
        int first = 1;
        for (size_t o = 0; nout && o <= OUT_N; o++) {
            if (!cnt[t][o])
                continue;
            if (first)
                st_buf_printf(b, "%s%s: ", sep, name);
            st_buf_printf(b, "%s%zu %s", first ? "" : ", ", cnt[t][o],
                          o < OUT_N ? outcome_names[o] : "other");
            first = 0;
            sep = "; ";
        }
    }
    if (!b->len)
        st_buf_printf(b, "-");
}

static void print_run_row(const run_view *r)
{
    char exit_s[16] = "incomplete";
    if (r->summary)
        snprintf(exit_s, sizeof(exit_s), "%" PRId64, (int64_t)num(r->summary, "exit_code"));
    size_t nact = 0;
    for (size_t n = 1; n <= r->maxn; n++)
        nact += r->action[n] != NULL;
    st_buf b;
    st_buf_init(&b, 0);
    outcomes_text(r, &b);
    printf("%-25s %-7s %7zu  %-10s  %s\n", r->run ? str(r->run, "start") : "?",
           r->run ? str(r->run, "shard") : "?", nact, exit_s,
           st_buf_cstr(&b) ? (const char *)b.p : "");
    st_buf_release(&b);
}

static void ulid_list(st_buf *b, const json_t *arr)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        st_buf_printf(b, "%s%s", i ? " " : "", json_string_value(v) ? json_string_value(v) : "?");
    }
}

/* What an action that worked did to its inputs, as a phrase. */
static void result_text(st_buf *b, const json_t *act, const json_t *out)
{
    const json_t *created = json_object_get(out, "created");
    switch (type_index(str(act, "type"))) {
    case PLANNER_ACT_DELETE:
    case PLANNER_ACT_CLEANUP_PARTIAL:
        st_buf_printf(b, "deleted");
        break;
    case PLANNER_ACT_GC:
    case PLANNER_ACT_RETENTION:
        st_buf_printf(b, "marked for deletion");
        break;
    case PLANNER_ACT_COMPACT:
        if (!json_array_size(created)) {
            st_buf_printf(b, "no samples in range, no new block; inputs marked for deletion");
            break;
        }
        st_buf_printf(b, "compacted into ");
        ulid_list(b, created);
        st_buf_printf(b, "; inputs marked for deletion");
        break;
    case PLANNER_ACT_DOWNSAMPLE:
        st_buf_printf(b, "downsampled into ");
        ulid_list(b, created);
        break;
    default:
        st_buf_printf(b, "done");
    }
}

static void print_match(const run_view *r, size_t n, const char *id, const char *role)
{
    const json_t *act = r->action[n], *out = r->outcome[n];
    const char *tenant = act ? str(act, "tenant") : str(out, "tenant");
    const char *group = act ? str(act, "group") : str(out, "group");
    st_buf b;
    st_buf_init(&b, 0);
    size_t nin = json_array_size(json_object_get(act, "blocks"));
    if (strcmp(role, "input") == 0 && nin > 1)
        st_buf_printf(&b, "%s is 1 of its %zu inputs", id, nin);
    else if (strcmp(role, "input") == 0)
        st_buf_printf(&b, "%s is its input", id);
    else if (strcmp(role, "output") == 0) {
        st_buf_printf(&b, "%s is its output, made from ", id);
        ulid_list(&b, json_object_get(act, "blocks"));
    } else {
        st_buf_printf(&b, "%s was quarantined by it (no-compact mark)", id);
    }
    printf("  action %zu %s, tenant %s, group %s; %s\n", n,
           act ? str(act, "type") : str(out, "type"), *tenant ? tenant : "(none)",
           *group ? group : "-", st_buf_cstr(&b) ? (const char *)b.p : "");
    if (act)
        printf("    why:     %s\n", str(act, "reason"));
    st_buf_reset(&b);
    if (!out) {
        printf("    outcome: none recorded (the run did not finish: killed, or still running)\n");
    } else {
        const char *oc = str(out, "outcome");
        if (strcmp(oc, "ok") == 0 && act)
            result_text(&b, act, out);
        else if (*str(out, "error"))
            st_buf_printf(&b, "%s", str(out, "error"));
        else if (strcmp(oc, "skipped") == 0)
            st_buf_printf(&b, "the group was leased by another run");
        printf("    outcome: %s at %s in %" PRId64 " ms%s%s\n", oc, str(out, "time"),
               (int64_t)num(out, "duration_ms"), b.len ? ": " : "",
               st_buf_cstr(&b) ? (const char *)b.p : "");
    }
    st_buf_release(&b);
}

/* The actions of one run that name id; returns how many. */
static size_t print_block(const run_view *r, const char *id, int json)
{
    size_t found = 0;
    for (size_t n = 1; n <= r->maxn; n++) {
        const json_t *act = r->action[n], *out = r->outcome[n];
        const char *role = act && names(act, "blocks", id)        ? "input"
                           : out && names(out, "created", id)     ? "output"
                           : out && names(out, "quarantined", id) ? "quarantined"
                                                                  : NULL;
        if (!role)
            continue;
        if (!found++) {
            if (json && r->run)
                print_line(r->run);
            else if (!json)
                printf("%s run %s (shard %s, now %s)\n", r->run ? str(r->run, "start") : "?",
                       r->key, r->run ? str(r->run, "shard") : "?",
                       r->run ? str(r->run, "now") : "?");
        }
        if (json) {
            if (act)
                print_line(act);
            if (out)
                print_line(out);
        } else {
            print_match(r, n, id, role);
        }
    }
    return found;
}

/* ---- the command ------------------------------------------------------------------------------
 */

/* Read one history object; 0, or <0 after reporting it (the caller goes on with the next). */
static int read_run(objstore *store, const char *key, run_view *r)
{
    st_err err;
    st_err_init(&err);
    st_buf b;
    st_buf_init(&b, 0);
    memset(r, 0, sizeof(*r));
    r->key = key;
    int rc = objstore_get(store, key, &b, HISTORY_MAX_OBJECT, &err);
    if (rc == ST_ENOTFOUND) { /* pruned since the listing */
        st_buf_release(&b);
        return rc;
    }
    if (!rc)
        rc = history_decode(b.p, b.len, key, &r->l, &err);
    st_buf_release(&b);
    if (!rc && (rc = view_index(r)))
        st_err_set(&err, rc, "%s: out of memory", key);
    if (!rc && r->l.nbad)
        fprintf(stderr, "strata history: %s: %zu unreadable line(s) skipped; first: %s\n", key,
                r->l.nbad, r->l.bad);
    if (rc)
        fprintf(stderr, "strata history: %s (skipped)\n", err.msg);
    return rc ? rc : r->l.nbad ? ST_ECORRUPT : 0;
}

int cmd_history(int argc, char **argv)
{
    const char *cfg_file = NULL, *cfg_yaml = NULL, *bucket = NULL, *block = NULL, *since_s = NULL;
    const char *now_s = NULL, *output = "text", *log_level = "warn", *log_format = "logfmt";
    const cli_flag flags[] = {
        {"objstore.config-file", CLI_STRING, &cfg_file, "object store YAML file (Thanos format)"},
        {"objstore.config", CLI_STRING, &cfg_yaml, "object store YAML, inline"},
        {"bucket", CLI_STRING, &bucket, "a local directory used as the bucket"},
        {"block", CLI_STRING, &block, "only the actions that name this block (ULID)"},
        {"since", CLI_STRING, &since_s, "only runs started within this duration (e.g. 7d)"},
        {"now", CLI_STRING, &now_s, "--since counts back from this RFC 3339 time (the clock)"},
        {"output", CLI_STRING, &output, "text or json (the stored lines)"},
        {"log.level", CLI_STRING, &log_level, "debug, info, warn or error"},
        {"log.format", CLI_STRING, &log_format, "logfmt or json"},
    };
    const char **pos = NULL;
    size_t npos = 0;
    int rc = cli_parse("history", argc, argv, flags, ST_ARRAY_LEN(flags), &pos, &npos);
    if (rc)
        return rc;
    int exit_code = COMPACTOR_EXIT_USAGE, json = strcmp(output, "json") == 0;
    objstore *store = NULL;
    history_keys keys = {0};
    int64_t now = st_now_ms(), since = 0, from = INT64_MIN;
    char id[CODEC_ULID_LEN + 1] = "";
    enum st_log_level lvl;
    enum st_log_format lfmt;
    st_err err;
    st_err_init(&err);
    if (npos || (!json && strcmp(output, "text") != 0) || (!cfg_file && !cfg_yaml && !bucket) ||
        st_log_parse_level(log_level, &lvl) || st_log_parse_format(log_format, &lfmt)) {
        usage();
        goto done;
    }
    if (block) {
        if (!codec_ulid_valid(block, strlen(block))) {
            fprintf(stderr, "strata history: --block=%s is not a ULID\n", block);
            goto done;
        }
        for (size_t k = 0; k < CODEC_ULID_LEN; k++)
            id[k] = (char)toupper((unsigned char)block[k]);
    }
    if (now_s && planner_time_parse(now_s, &now)) {
        fprintf(stderr, "strata history: --now=%s: expected an RFC 3339 time\n", now_s);
        goto done;
    }
    if (since_s && (planner_duration_parse(since_s, &since) || since <= 0)) {
        fprintf(stderr, "strata history: --since=%s: expected a duration such as 7d\n", since_s);
        goto done;
    }
    if (since_s)
        from = now - since;
    st_log_setup(lvl, lfmt);
    exit_code = COMPACTOR_EXIT_ERROR;
    if (objstore_open_flags(&store, cfg_file, cfg_yaml, bucket, &err) ||
        history_list(store, from, INT64_MAX, &keys, &err)) {
        fprintf(stderr, "strata history: %s\n", err.msg);
        goto done;
    }
    size_t unreadable = 0, shown = 0, matches = 0;
    for (size_t i = 0; i < keys.n; i++) {
        run_view r;
        rc = read_run(store, keys.v[i], &r);
        unreadable += rc < 0 && rc != ST_ENOTFOUND;
        if (r.l.n && r.action && r.outcome) {
            if (block) {
                size_t m = print_block(&r, id, json);
                matches += m;
                shown += m > 0;
            } else if (json) {
                for (size_t k = 0; k < r.l.n; k++)
                    print_line(r.l.v[k]);
            } else {
                if (!shown++)
                    printf("%-25s %-7s %7s  %-10s  %s\n", "START", "SHARD", "ACTIONS", "EXIT",
                           "OUTCOMES");
                print_run_row(&r);
            }
        }
        view_release(&r);
    }
    if (!json && !shown)
        printf("%s in %s%s%s\n", block ? "no action names this block" : "no run history",
               objstore_name(store), since_s ? " since " : "", since_s ? since_s : "");
    else if (!json && block)
        printf("%zu action(s) in %zu run(s) name %s\n", matches, shown, id);
    exit_code = unreadable ? COMPACTOR_EXIT_ERROR : COMPACTOR_EXIT_OK;
    if (unreadable)
        fprintf(stderr, "strata history: %zu history object(s) could not be read\n", unreadable);
done:
    if (fflush(stdout) != 0 && exit_code == COMPACTOR_EXIT_OK)
        exit_code = COMPACTOR_EXIT_ERROR;
    history_keys_release(&keys);
    objstore_free(store);
    st_free(pos);
    return exit_code;
}
