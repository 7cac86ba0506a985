/*
 * test_conditional.c - conditional puts on the FILESYSTEM store: "must not exist" (link) and
 * "ETag equals" (compare and rename under a directory flock) refuse with ST_ECONFLICT and write
 * nothing when the condition fails; the ETag is the content's SHA-256; nothing is left behind in
 * the directory; and of many takers racing for one key, from threads of one process or from
 * separate processes each with its own handle, exactly one wins, round after round.
 */
#include "tests/util/testutil.h"

#include "objstore/objstore.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TAKERS      8
#define ROUNDS      200
#define PROC_ROUNDS 40

typedef struct fixture {
    char *dir;
    objstore *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    st_err err;
    st_err_init(&err);
    f->dir = tu_tmpdir();
    if (objstore_open_fs(&f->s, f->dir, &err)) {
        fprintf(stderr, "open %s: %s\n", f->dir, err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    objstore_free(f->s);
    tu_tmpdir_free(f->dir);
    free(f);
    return 0;
}

static void must(int rc, const st_err *err, const char *what)
{
    if (rc)
        fail_msg("%s: rc %d (%s): %s", what, rc, st_strerror(rc), err->msg);
}

/* The object's bytes as a string, and its ETag. */
static void read_obj(objstore *s, const char *key, char *out, size_t cap, char *etag)
{
    st_buf b;
    st_buf_init(&b, 0);
    st_err err;
    st_err_init(&err);
    must(objstore_get_etag(s, key, &b, 0, etag, &err), &err, key);
    assert_true(b.len < cap);
    memcpy(out, b.p, b.len);
    out[b.len] = '\0';
    st_buf_release(&b);
}

static void conditional__absent_creates_once_then_conflicts(void **state)
{
    fixture *f = *state;
    st_err err;
    st_err_init(&err);
    objstore_cond absent = {OBJSTORE_IF_ABSENT, NULL};
    char etag[OBJSTORE_ETAG_MAX], got[OBJSTORE_ETAG_MAX], v[64];
    assert_true(objstore_supports_conditional(f->s));
    must(objstore_put_if(f->s, "l/a/x.json", "first", 5, &absent, etag, &err), &err, "create");
    int rc = objstore_put_if(f->s, "l/a/x.json", "second", 6, &absent, NULL, &err);
    assert_int_equal(rc, ST_ECONFLICT);
    assert_int_equal(objstore_err_class(rc), OBJSTORE_CLASS_CONFLICT);
    assert_non_null(strstr(err.msg, "the object exists"));
    read_obj(f->s, "l/a/x.json", v, sizeof(v), got);
    assert_string_equal(v, "first");
    assert_string_equal(got, etag);
}

static void conditional__match_replaces_only_the_version_read(void **state)
{
    fixture *f = *state;
    st_err err;
    st_err_init(&err);
    char e1[OBJSTORE_ETAG_MAX], e2[OBJSTORE_ETAG_MAX], got[OBJSTORE_ETAG_MAX], v[64];
    must(objstore_put(f->s, "m/k", "v1", 2, &err), &err, "put");
    read_obj(f->s, "m/k", v, sizeof(v), e1);

    static const struct {
        const char *name, *etag;
    } wrong[] = {
        {"another object's ETag",
         "\"0000000000000000000000000000000000000000000000000000000000000000\""},
        {"the ETag without its quotes", NULL},
        {"an S3-looking ETag", "\"5d41402abc4b2a76b9719d911017c592\""},
    };
    char unquoted[OBJSTORE_ETAG_MAX];
    snprintf(unquoted, sizeof(unquoted), "%.*s", (int)strlen(e1) - 2, e1 + 1);
    for (size_t i = 0; i < ST_ARRAY_LEN(wrong); i++) {
        objstore_cond c = {OBJSTORE_IF_MATCH, wrong[i].etag ? wrong[i].etag : unquoted};
        st_err_init(&err);
        int rc = objstore_put_if(f->s, "m/k", "bad", 3, &c, NULL, &err);
        if (rc != ST_ECONFLICT)
            fail_msg("%s: rc %d: %s", wrong[i].name, rc, err.msg);
    }
    read_obj(f->s, "m/k", v, sizeof(v), got);
    assert_string_equal(v, "v1");

    objstore_cond match = {OBJSTORE_IF_MATCH, e1};
    st_err_init(&err);
    must(objstore_put_if(f->s, "m/k", "v2", 2, &match, e2, &err), &err, "match");
    assert_string_not_equal(e1, e2);
    read_obj(f->s, "m/k", v, sizeof(v), got);
    assert_string_equal(v, "v2");
    assert_string_equal(got, e2);
    /* the version read is gone: a second writer holding it loses */
    assert_int_equal(objstore_put_if(f->s, "m/k", "v3", 2, &match, NULL, &err), ST_ECONFLICT);
    /* and a deleted object matches nothing */
    st_err_init(&err);
    must(objstore_delete(f->s, "m/k", &err), &err, "delete");
    match.etag = e2;
    assert_int_equal(objstore_put_if(f->s, "m/k", "v4", 2, &match, NULL, &err), ST_ECONFLICT);
    assert_non_null(strstr(err.msg, "gone"));
}

static void conditional__etag_is_the_content_hash(void **state)
{
    fixture *f = *state;
    st_err err;
    st_err_init(&err);
    char e1[OBJSTORE_ETAG_MAX], e2[OBJSTORE_ETAG_MAX], v[64];
    must(objstore_put(f->s, "h/a", "hello", 5, &err), &err, "put a");
    must(objstore_put(f->s, "h/b", "hello", 5, &err), &err, "put b");
    read_obj(f->s, "h/a", v, sizeof(v), e1);
    read_obj(f->s, "h/b", v, sizeof(v), e2);
    assert_string_equal(e1, "\"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\"");
    assert_string_equal(e1, e2);
    must(objstore_put(f->s, "h/a", "hellO", 5, &err), &err, "put a again");
    read_obj(f->s, "h/a", v, sizeof(v), e2);
    assert_string_not_equal(e1, e2); /* a plain put makes a new version too */
}

static void conditional__bad_conditions_are_refused(void **state)
{
    fixture *f = *state;
    st_err err;
    st_err_init(&err);
    objstore_cond empty = {OBJSTORE_IF_MATCH, ""}, none = {OBJSTORE_IF_MATCH, NULL},
                  kind = {(objstore_cond_kind)7, NULL};
    assert_int_equal(objstore_put_if(f->s, "b/k", "x", 1, NULL, NULL, &err), ST_EINVAL);
    assert_int_equal(objstore_put_if(f->s, "b/k", "x", 1, &empty, NULL, &err), ST_EINVAL);
    assert_int_equal(objstore_put_if(f->s, "b/k", "x", 1, &none, NULL, &err), ST_EINVAL);
    assert_int_equal(objstore_put_if(f->s, "b/k", "x", 1, &kind, NULL, &err), ST_EINVAL);
    objstore_cond absent = {OBJSTORE_IF_ABSENT, NULL};
    assert_int_equal(objstore_put_if(f->s, "/b/k", "x", 1, &absent, NULL, &err), ST_EINVAL);
    char etag[OBJSTORE_ETAG_MAX];
    st_buf b;
    st_buf_init(&b, 0);
    assert_int_equal(objstore_get_etag(f->s, "b/missing", &b, 0, etag, &err), ST_ENOTFOUND);
    st_buf_release(&b);
}

/* Only the objects: no temp files, no lock files, in any directory a conditional put touched. */
static void conditional__nothing_is_left_beside_the_objects(void **state)
{
    fixture *f = *state;
    st_err err;
    st_err_init(&err);
    objstore_cond absent = {OBJSTORE_IF_ABSENT, NULL};
    char etag[OBJSTORE_ETAG_MAX];
    must(objstore_put_if(f->s, "n/d/k", "1", 1, &absent, etag, &err), &err, "create");
    objstore_put_if(f->s, "n/d/k", "2", 1, &absent, NULL, &err);
    objstore_cond match = {OBJSTORE_IF_MATCH, etag};
    st_err_init(&err);
    must(objstore_put_if(f->s, "n/d/k", "3", 1, &match, NULL, &err), &err, "replace");
    objstore_put_if(f->s, "n/d/k", "4", 1, &match, NULL, &err);
    char path[1024];
    snprintf(path, sizeof(path), "%s/n/d", f->dir);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (strcmp(de->d_name, "k") != 0)
            fail_msg("left behind: %s", de->d_name);
        n++;
    }
    closedir(d);
    assert_int_equal(n, 1);
    /* deleting the object removes its directories: no lock file keeps them */
    st_err_init(&err);
    must(objstore_delete(f->s, "n/d/k", &err), &err, "delete");
    snprintf(path, sizeof(path), "%s/n", f->dir);
    assert_int_equal(access(path, F_OK), -1);
}

/* ---- races ---------------------------------------------------------------------------------- */

typedef struct race {
    objstore *s;
    pthread_barrier_t go;
    char key[64];
    int round; /* in every body: a body equal to the version replaced would keep its ETag */
    objstore_cond cond;
    int rc[TAKERS];
    st_err err[TAKERS];
} race;

typedef struct taker {
    race *r;
    int i;
} taker;

static void *take(void *arg)
{
    taker *t = arg;
    race *r = t->r;
    char body[64];
    int n = snprintf(body, sizeof(body), "taker %d of round %d", t->i, r->round);
    st_err err;
    st_err_init(&err);
    pthread_barrier_wait(&r->go);
    r->rc[t->i] = objstore_put_if(r->s, r->key, body, (size_t)n, &r->cond, NULL, &err);
    r->err[t->i] = err;
    return NULL;
}

/* TAKERS threads at once; returns the winner, failing unless exactly one won and the others got
 * ST_ECONFLICT, and the object holds the winner's body. */
static int race_once(race *r, const char *what, int round)
{
    r->round = round;
    pthread_t t[TAKERS];
    taker tk[TAKERS];
    pthread_barrier_init(&r->go, NULL, TAKERS);
    for (int i = 0; i < TAKERS; i++) {
        tk[i] = (taker){r, i};
        assert_int_equal(pthread_create(&t[i], NULL, take, &tk[i]), 0);
    }
    for (int i = 0; i < TAKERS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&r->go);
    int winner = -1, wins = 0;
    for (int i = 0; i < TAKERS; i++) {
        if (r->rc[i] == 0) {
            winner = i;
            wins++;
        } else if (r->rc[i] != ST_ECONFLICT) {
            fail_msg("%s, round %d: taker %d: rc %d: %s", what, round, i, r->rc[i], r->err[i].msg);
        }
    }
    if (wins != 1)
        fail_msg("%s, round %d: %d winners", what, round, wins);
    char v[64], etag[OBJSTORE_ETAG_MAX], want[64];
    read_obj(r->s, r->key, v, sizeof(v), etag);
    snprintf(want, sizeof(want), "taker %d of round %d", winner, round);
    assert_string_equal(v, want);
    return winner;
}

static void conditional__threads_racing_for_an_absent_key_one_wins(void **state)
{
    fixture *f = *state;
    race r = {.s = f->s, .cond = {OBJSTORE_IF_ABSENT, NULL}};
    for (int round = 0; round < ROUNDS; round++) {
        snprintf(r.key, sizeof(r.key), "race/absent/%d.json", round);
        race_once(&r, "absent", round);
    }
}

static void conditional__threads_racing_to_replace_one_version_one_wins(void **state)
{
    fixture *f = *state;
    st_err err;
    st_err_init(&err);
    char etag[OBJSTORE_ETAG_MAX], v[64];
    race r = {.s = f->s, .cond = {OBJSTORE_IF_MATCH, etag}};
    snprintf(r.key, sizeof(r.key), "race/match/lease.json");
    must(objstore_put(f->s, r.key, "expired", 7, &err), &err, "put");
    for (int round = 0; round < ROUNDS; round++) {
        read_obj(f->s, r.key, v, sizeof(v), etag); /* every taker read this same version */
        race_once(&r, "match", round);
    }
}

/* One process: its own handle, waits for the start byte, tries once, exits 0 (won), 1 (lost)
 * or 2 (error). */
static void child(const char *dir, const char *key, const char *etag, int i, int round,
                  int start_fd)
{
    objstore *s = NULL;
    st_err err;
    st_err_init(&err);
    char go, body[64];
    int n = snprintf(body, sizeof(body), "process %d of round %d", i, round);
    if (objstore_open_fs(&s, dir, &err) || read(start_fd, &go, 1) != 1)
        _exit(2);
    objstore_cond c = {etag ? OBJSTORE_IF_MATCH : OBJSTORE_IF_ABSENT, etag};
    int rc = objstore_put_if(s, key, body, (size_t)n, &c, NULL, &err);
    objstore_free(s);
    _exit(rc == 0 ? 0 : rc == ST_ECONFLICT ? 1 : 2);
}

static void conditional__processes_racing_with_their_own_handles_one_wins(void **state)
{
    fixture *f = *state;
    st_err err;
    st_err_init(&err);
    char etag[OBJSTORE_ETAG_MAX], v[64], key[64];
    for (int round = 0; round < PROC_ROUNDS; round++) {
        int match = round % 2; /* odd rounds replace the version left by the round before */
        if (match) {
            read_obj(f->s, key, v, sizeof(v), etag);
        } else {
            snprintf(key, sizeof(key), "race/proc/%d.json", round);
        }
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid[TAKERS];
        for (int i = 0; i < TAKERS; i++) {
            pid[i] = fork();
            assert_true(pid[i] >= 0);
            if (pid[i] == 0) {
                close(p[1]);
                child(f->dir, key, match ? etag : NULL, i, round, p[0]);
            }
        }
        close(p[0]);
        char go[TAKERS] = {0};
        assert_int_equal(write(p[1], go, sizeof(go)), (ssize_t)sizeof(go)); /* all at once */
        close(p[1]);
        int wins = 0, winner = -1;
        for (int i = 0; i < TAKERS; i++) {
            int st = 0;
            waitpid(pid[i], &st, 0);
            int code = WIFEXITED(st) ? WEXITSTATUS(st) : 3;
            if (code == 0) {
                wins++;
                winner = i;
            } else if (code != 1) {
                fail_msg("round %d: process %d ended with %d", round, i, code);
            }
        }
        if (wins != 1)
            fail_msg("round %d (%s): %d winners", round, match ? "match" : "absent", wins);
        char want[64];
        read_obj(f->s, key, v, sizeof(v), etag);
        snprintf(want, sizeof(want), "process %d of round %d", winner, round);
        assert_string_equal(v, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(conditional__absent_creates_once_then_conflicts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(conditional__match_replaces_only_the_version_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(conditional__etag_is_the_content_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(conditional__bad_conditions_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(conditional__nothing_is_left_beside_the_objects, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(conditional__threads_racing_for_an_absent_key_one_wins,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(conditional__threads_racing_to_replace_one_version_one_wins,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            conditional__processes_racing_with_their_own_handles_one_wins, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
