/*
 * pool.c - a fixed-size thread pool. Tasks run in submission order as workers free up;
 * st_pool_wait blocks until every submitted task has finished.
 */
#include "common.h"

#include <pthread.h>
#include <unistd.h>

typedef struct task {
    void (*fn)(void *);
    void *arg;
} task;

struct st_pool {
    pthread_mutex_t mu;
    pthread_cond_t has_work;
    pthread_cond_t idle;
    task *q;
    size_t qcap, qhead, qlen;
    size_t running;
    int stop;
    int nthreads;
    pthread_t *threads;
};

static void *worker(void *arg)
{
    st_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->qlen == 0 && !p->stop)
            pthread_cond_wait(&p->has_work, &p->mu);
        if (p->qlen == 0 && p->stop)
            break;
        task t = p->q[p->qhead];
        p->qhead = (p->qhead + 1) % p->qcap;
        p->qlen--;
        p->running++;
        pthread_mutex_unlock(&p->mu);
        t.fn(t.arg);
        pthread_mutex_lock(&p->mu);
        p->running--;
        if (p->qlen == 0 && p->running == 0)
            pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int st_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int st_pool_create(st_pool **out, int nthreads)
{
    *out = NULL;
    if (nthreads <= 0)
        nthreads = st_ncpu();
    st_pool *p = st_calloc(1, sizeof(*p));
    if (!p)
        return ST_ENOMEM;
    p->threads = st_calloc((size_t)nthreads, sizeof(pthread_t));
    p->qcap = 64;
    p->q = st_calloc(p->qcap, sizeof(task));
    if (!p->threads || !p->q) {
        st_free(p->threads);
        st_free(p->q);
        st_free(p);
        return ST_ENOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->has_work, NULL);
    pthread_cond_init(&p->idle, NULL);
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            break;
        p->nthreads++;
    }
    if (p->nthreads == 0) {
        st_pool_free(p);
        return ST_ENOMEM;
    }
    *out = p;
    return 0;
}

int st_pool_submit(st_pool *p, void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&p->mu);
    if (p->qlen == p->qcap) {
        size_t ncap = p->qcap * 2;
        task *nq = st_calloc(ncap, sizeof(task));
        if (!nq) {
            pthread_mutex_unlock(&p->mu);
            return ST_ENOMEM;
        }
        for (size_t i = 0; i < p->qlen; i++)
            nq[i] = p->q[(p->qhead + i) % p->qcap];
        st_free(p->q);
        p->q = nq;
        p->qcap = ncap;
        p->qhead = 0;
    }
    p->q[(p->qhead + p->qlen) % p->qcap] = (task){fn, arg};
    p->qlen++;
    pthread_cond_signal(&p->has_work);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void st_pool_wait(st_pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->qlen > 0 || p->running > 0)
        pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void st_pool_free(st_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->has_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->has_work);
    pthread_cond_destroy(&p->idle);
    st_free(p->threads);
    st_free(p->q);
    st_free(p);
}
