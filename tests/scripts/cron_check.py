#!/usr/bin/env python3
"""Checks of strata's Kubernetes manifests (cron/) and Dockerfile, for test_cron_manifests.sh.

Every YAML file under cron/ is parsed (python3-yaml). The kustomizations (cron/base,
cron/sharded) are rendered here with the small subset of kustomize they use (resources,
namespace, JSON 6902 patches: anything else is refused), and compared with `kubectl kustomize`
when kubectl is installed. Then, per variant:
  - the CronJob: concurrencyPolicy Forbid, startingDeadlineSeconds, history limits, resource
    requests and limits (limit >= request), a non-root pod (runAsNonRoot, runAsUser > 0), a
    container with readOnlyRootFilesystem, no privilege escalation, every capability dropped;
  - the ServiceAccount it uses, annotated for web identity (eks.amazonaws.com/role-arn);
  - the container args: `run` and flags strata accepts (`strata run --help` when that command
    exists, else `strata plan --help` plus the run-only flags of issue 5), each `--name[=value]`;
  - every path in the args on a volume: --data-dir on a writable emptyDir, the objstore file
    from the Secret (its YAML parsed: S3 or FILESYSTEM), the tenant file from the ConfigMap;
  - the args' plan flags and the ConfigMap's tenant YAML accepted by the real strata: `strata
    plan` on an empty filesystem bucket with them exits 0;
  - sharded: completionMode Indexed, parallelism == completions == N > 1, --shards=N, no --shard.
The Dockerfile: every stage FROM debian:12-slim (bookworm-slim), the build stage installs with
scripts/deps.sh --build-only, the final stage runs as a non-root USER, and installs the Debian
package of every shared library the strata binary needs (readelf -d, dpkg -S).

Prints one line per check: PASS ..., FAIL ..., SKIP ...
"""
import base64
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

SRC, STRATA, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
CRON = os.path.join(SRC, 'cron')
RUN_ONLY = ['compact.concurrency', 'downsample.concurrency', 'dry-run', 'shard', 'shards',
            'pushgateway.url', 'metrics.textfile', 'deduplication.func', 'threads']
# Packages in debian:12-slim itself (essential), so the final stage need not install them.
BASE_PKGS = {'libc6', 'libgcc-s1', 'zlib1g', 'libzstd1', 'liblzma5', 'libbz2-1.0',
             'libselinux1', 'libpcre2-8-0', 'libacl1', 'libattr1', 'libcrypt1'}


def out(status, msg):
    print('%s %s' % (status, msg.replace('\n', ' ')), flush=True)


def check(ok, msg, detail=''):
    out('PASS' if ok else 'FAIL', msg if ok or not detail else '%s: %s' % (msg, detail))
    return ok


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# ---- every YAML file parses ---------------------------------------------------------------------
yaml_files = []
for root, _, files in os.walk(CRON):
    for name in sorted(files):
        if name.endswith(('.yaml', '.yml')):
            yaml_files.append(os.path.join(root, name))
for path in sorted(yaml_files):
    rel = os.path.relpath(path, SRC)
    try:
        docs = load_docs(path)
        check(len(docs) > 0, 'YAML parses: %s (%d document(s))' % (rel, len(docs)), 'empty')
    except yaml.YAMLError as e:
        check(False, 'YAML parses: %s' % rel, str(e))


# ---- a small kustomize ---------------------------------------------------------------------------
CLUSTER_SCOPED = {'Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition'}


def pointer(path):
    if not path.startswith('/'):
        raise ValueError('JSON pointer must start with /: %r' % path)
    return [p.replace('~1', '/').replace('~0', '~') for p in path[1:].split('/')]


def apply_op(obj, op):
    parts = pointer(op['path'])
    parent = obj
    for p in parts[:-1]:
        parent = parent[int(p)] if isinstance(parent, list) else parent[p]
    last = parts[-1]
    kind = op['op']
    if isinstance(parent, list):
        if kind == 'add':
            if last == '-':
                parent.append(op['value'])
            else:
                parent.insert(int(last), op['value'])
        elif kind == 'replace':
            parent[int(last)] = op['value']
        elif kind == 'remove':
            del parent[int(last)]
        else:
            raise ValueError('unsupported op %r' % kind)
    else:
        if kind in ('add', 'replace'):
            if kind == 'replace' and last not in parent:
                raise KeyError(op['path'])
            parent[last] = op['value']
        elif kind == 'remove':
            del parent[last]
        else:
            raise ValueError('unsupported op %r' % kind)


def matches(obj, target):
    api = obj.get('apiVersion', '')
    group, _, version = api.rpartition('/')
    for key, have in (('kind', obj.get('kind')), ('name', obj['metadata'].get('name')),
                      ('group', group), ('version', version)):
        if key in target and target[key] != have:
            return False
    return True


def kustomize(d):
    k = load_docs(os.path.join(d, 'kustomization.yaml'))[0]
    extra = set(k) - {'apiVersion', 'kind', 'namespace', 'resources', 'patches'}
    if extra:
        raise ValueError('%s: kustomization keys this checker does not render: %s'
                         % (d, sorted(extra)))
    objs = []
    for r in k.get('resources', []):
        p = os.path.normpath(os.path.join(d, r))
        objs += kustomize(p) if os.path.isdir(p) else load_docs(p)
    for patch in k.get('patches', []):
        ops = load_docs(os.path.join(d, patch['path']))[0]
        hit = [o for o in objs if matches(o, patch.get('target', {}))]
        if not hit:
            raise ValueError('%s: patch %s matches nothing' % (d, patch['path']))
        for o in hit:
            for op in ops:
                apply_op(o, op)
    if 'namespace' in k:
        for o in objs:
            if o['kind'] not in CLUSTER_SCOPED:
                o['metadata']['namespace'] = k['namespace']
    return objs


def canon(objs):
    return sorted(json.dumps(o, sort_keys=True) for o in objs)


variants = {}
for name in ('base', 'sharded'):
    d = os.path.join(CRON, name)
    try:
        variants[name] = kustomize(d)
        check(True, 'cron/%s renders (%d objects)' % (name, len(variants[name])))
    except Exception as e:  # noqa: BLE001 - any failure is a test failure
        check(False, 'cron/%s renders' % name, repr(e))
        continue
    kubectl = shutil.which('kubectl')
    if not kubectl:
        out('SKIP', 'kubectl kustomize cron/%s: kubectl not installed' % name)
        continue
    r = subprocess.run([kubectl, 'kustomize', d], capture_output=True, text=True)
    if r.returncode != 0:
        check(False, 'kubectl kustomize cron/%s' % name, r.stderr.strip()[:300])
        continue
    theirs = [o for o in yaml.safe_load_all(r.stdout) if o]
    check(canon(theirs) == canon(variants[name]),
          'kubectl kustomize cron/%s gives the same objects' % name,
          'differs from this checker\'s rendering')


# ---- flags strata accepts -------------------------------------------------------------------------
def help_flags(cmd):
    r = subprocess.run([STRATA, cmd, '--help'], capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.startswith('flags of strata %s:' % cmd):
        return None
    return set(re.findall(r'^\s+--([A-Za-z0-9][A-Za-z0-9._-]*)', r.stdout, re.M))


plan_flags = help_flags('plan')
run_flags = help_flags('run')
if run_flags is not None:
    accepted, accepted_from = run_flags, '`strata run --help`'
else:
    accepted = (plan_flags or set()) | set(RUN_ONLY)
    accepted_from = '`strata plan --help` + the run-only flags of issue 5'
check(plan_flags is not None, 'strata plan --help lists its flags (%s)' % STRATA)
out('PASS', 'container args are checked against %s (%d flags)' % (accepted_from, len(accepted)))


def flag_map(args):
    m = {}
    for a in args:
        name, eq, val = a[2:].partition('=')
        m.setdefault(name, []).append(val if eq else None)
    return m


# ---- quantities ----------------------------------------------------------------------------------
SUFFIX = {'m': 1e-3, '': 1, 'k': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12, 'Ki': 2**10, 'Mi': 2**20,
          'Gi': 2**30, 'Ti': 2**40}


def quantity(q):
    m = re.fullmatch(r'([0-9.]+)([a-zA-Z]*)', str(q))
    if not m or m.group(2) not in SUFFIX:
        raise ValueError('bad quantity %r' % q)
    return float(m.group(1)) * SUFFIX[m.group(2)]


# ---- the CronJob of each variant ----------------------------------------------------------------
def check_variant(name, objs):
    tag = 'cron/%s' % name
    by_kind = {}
    for o in objs:
        by_kind.setdefault(o['kind'], []).append(o)
    cjs = by_kind.get('CronJob', [])
    if not check(len(cjs) == 1, '%s: one CronJob' % tag, 'found %d' % len(cjs)):
        return
    cj = cjs[0]
    spec = cj['spec']
    check(spec.get('concurrencyPolicy') == 'Forbid', '%s: concurrencyPolicy Forbid' % tag,
          repr(spec.get('concurrencyPolicy')))
    sds = spec.get('startingDeadlineSeconds')
    check(isinstance(sds, int) and sds > 0, '%s: startingDeadlineSeconds %r' % (tag, sds))
    for k in ('successfulJobsHistoryLimit', 'failedJobsHistoryLimit'):
        v = spec.get(k)
        check(isinstance(v, int) and v >= 1, '%s: %s %r' % (tag, k, v))
    check(len(str(spec.get('schedule', '')).split()) == 5, '%s: schedule %r has 5 fields'
          % (tag, spec.get('schedule')))
    job = spec['jobTemplate']['spec']
    pod = job['template']['spec']
    check(pod.get('restartPolicy') in ('Never', 'OnFailure'), '%s: restartPolicy %r'
          % (tag, pod.get('restartPolicy')))
    psc = pod.get('securityContext', {})
    check(psc.get('runAsNonRoot') is True, '%s: pod runAsNonRoot' % tag)
    check(isinstance(psc.get('runAsUser'), int) and psc['runAsUser'] > 0,
          '%s: pod runAsUser %r (not root)' % (tag, psc.get('runAsUser')))

    # ServiceAccount with web identity.
    san = pod.get('serviceAccountName')
    sas = [o for o in by_kind.get('ServiceAccount', []) if o['metadata']['name'] == san]
    if check(len(sas) == 1, '%s: ServiceAccount %r is part of the manifests' % (tag, san)):
        arn = sas[0]['metadata'].get('annotations', {}).get('eks.amazonaws.com/role-arn', '')
        check(re.fullmatch(r'arn:aws:iam::\d{12}:role/[\w+=,.@/-]+', arn) is not None,
              '%s: ServiceAccount annotated eks.amazonaws.com/role-arn=%s' % (tag, arn))

    cs = pod.get('containers', [])
    if not check(len(cs) == 1, '%s: one container' % tag, 'found %d' % len(cs)):
        return
    c = cs[0]
    check(':' in c.get('image', '') and not c['image'].endswith(':latest'),
          '%s: image %r has a fixed tag' % (tag, c.get('image')))
    sc = c.get('securityContext', {})
    check(sc.get('readOnlyRootFilesystem') is True, '%s: readOnlyRootFilesystem' % tag)
    check(sc.get('allowPrivilegeEscalation') is False, '%s: allowPrivilegeEscalation false' % tag)
    check('ALL' in sc.get('capabilities', {}).get('drop', []), '%s: capabilities drop ALL' % tag)
    check(sc.get('runAsNonRoot', psc.get('runAsNonRoot')) is True, '%s: container non-root' % tag)
    res = c.get('resources', {})
    for r in ('cpu', 'memory'):
        req, lim = res.get('requests', {}).get(r), res.get('limits', {}).get(r)
        try:
            ok = req is not None and lim is not None and quantity(lim) >= quantity(req) > 0
        except ValueError as e:
            ok = False
            lim = '%s (%s)' % (lim, e)
        check(ok, '%s: %s request %s, limit %s' % (tag, r, req, lim))

    args = c.get('args', [])
    check(c.get('command') in (None, ['strata'], ['/usr/local/bin/strata']),
          '%s: the image\'s entrypoint runs (command %r)' % (tag, c.get('command')))
    if not check(bool(args) and args[0] == 'run', '%s: args start with the run command' % tag,
                 repr(args[:1])):
        return
    bad_form = [a for a in args[1:] if not re.fullmatch(r'--[A-Za-z0-9][A-Za-z0-9._-]*(=.*)?', a)]
    check(not bad_form, '%s: every arg is --name or --name=value' % tag, repr(bad_form))
    flags = flag_map(a for a in args[1:] if a.startswith('--'))
    unknown = sorted(set(flags) - accepted)
    check(not unknown, '%s: every flag is one strata accepts (%d flags)' % (tag, len(flags)),
          'unknown to %s: %s' % (accepted_from, ', '.join('--' + u for u in unknown)))
    for needed in ('objstore.config-file', 'data-dir', 'log.format'):
        check(needed in flags, '%s: --%s given' % (tag, needed))
    check('pushgateway.url' in flags or 'metrics.textfile' in flags,
          '%s: metrics go somewhere (--pushgateway.url or --metrics.textfile)' % tag)
    check(flags.get('log.format') == ['json'], '%s: --log.format=json' % tag)

    # Volumes behind every path.
    vols = {v['name']: v for v in pod.get('volumes', [])}
    mounts = c.get('volumeMounts', [])

    def mount_of(path):
        best = None
        for m in mounts:
            mp = m['mountPath'].rstrip('/')
            if (path == mp or path.startswith(mp + '/')) and (
                    best is None or len(mp) > len(best['mountPath'])):
                best = m
        return best, vols.get(best['name']) if best else None

    files = {}
    data_dir = (flags.get('data-dir') or [None])[0]
    if data_dir:
        m, v = mount_of(data_dir)
        check(m is not None and m['mountPath'].rstrip('/') == data_dir.rstrip('/') and
              v is not None and 'emptyDir' in v and not m.get('readOnly'),
              '%s: --data-dir=%s is a writable emptyDir mount' % (tag, data_dir))
    for f in flags.get('metrics.textfile', []):
        m, v = mount_of(f or '')
        check(m is not None and not m.get('readOnly'),
              '%s: --metrics.textfile=%s is on a writable volume' % (tag, f))
    for flag, kind, ref in (('objstore.config-file', 'secret', 'secretName'),
                            ('tenant-config', 'configMap', 'name')):
        for path in flags.get(flag, []):
            m, v = mount_of(path or '')
            if not check(m is not None and v is not None and kind in v,
                         '%s: --%s=%s comes from a %s volume' % (tag, flag, path, kind)):
                continue
            src_name = v[kind][ref]
            want_kind = 'Secret' if kind == 'secret' else 'ConfigMap'
            srcs = [o for o in by_kind.get(want_kind, []) if o['metadata']['name'] == src_name]
            if not check(len(srcs) == 1, '%s: %s %r is part of the manifests'
                         % (tag, want_kind, src_name)):
                continue
            key = os.path.relpath(path, m['mountPath'])
            o = srcs[0]
            text = (o.get('stringData') or {}).get(key)
            if text is None and key in (o.get('data') or {}):
                text = o['data'][key]
                if want_kind == 'Secret':
                    text = base64.b64decode(text).decode()
            if check(text is not None, '%s: %s %s has key %s' % (tag, want_kind, src_name, key)):
                files[flag] = text

    if 'objstore.config-file' in files:
        try:
            cfg = yaml.safe_load(files['objstore.config-file'])
            typ = cfg.get('type')
            conf = cfg.get('config') or {}
            ok = typ in ('S3', 'FILESYSTEM') and (
                typ != 'S3' or all(k in conf for k in ('bucket', 'endpoint')))
            check(ok, '%s: objstore YAML is type %s with %s' % (tag, typ, sorted(conf)))
        except yaml.YAMLError as e:
            check(False, '%s: objstore YAML parses' % tag, str(e))

    # The args' plan flags and the tenant file, through the real strata plan.
    if plan_flags is not None and 'tenant-config' in files:
        d = tempfile.mkdtemp(dir=WORK)
        os.makedirs(os.path.join(d, 'bucket'))
        tf = os.path.join(d, 'tenants.yaml')
        with open(tf, 'w') as f:
            f.write(files['tenant-config'])
        pargs = [STRATA, 'plan', '--bucket=' + os.path.join(d, 'bucket')]
        for a in args[1:]:
            n, _, _ = a[2:].partition('=')
            if n not in plan_flags or n in ('objstore.config-file', 'objstore.config', 'bucket'):
                continue
            if n == 'tenant-config':
                a = '--tenant-config=' + tf
            elif n == 'data-dir':
                a = '--data-dir=' + os.path.join(d, 'data')
            pargs.append(a)
        r = subprocess.run(pargs, capture_output=True, text=True)
        check(r.returncode == 0,
              '%s: strata plan accepts the args\' plan flags and the tenant ConfigMap' % tag,
              'exit %d: %s' % (r.returncode, r.stderr.strip()[-300:]))
        # Once `strata run` exists: all the args (run-only values too) in a dry run, as pod 0.
        # The Pushgateway is left out (no network here); a textfile goes to the temp dir.
        if run_flags is not None and not unknown:
            rargs = [STRATA, 'run', '--dry-run', '--bucket=' + os.path.join(d, 'bucket')]
            for a in args[1:]:
                n, _, _ = a[2:].partition('=')
                if n in ('objstore.config-file', 'objstore.config', 'bucket', 'pushgateway.url',
                         'dry-run'):
                    continue
                if n == 'tenant-config':
                    a = '--tenant-config=' + tf
                elif n == 'data-dir':
                    a = '--data-dir=' + os.path.join(d, 'data')
                elif n == 'metrics.textfile':
                    a = '--metrics.textfile=' + os.path.join(d, 'strata.prom')
                rargs.append(a)
            env = dict(os.environ, JOB_COMPLETION_INDEX='0')
            r = subprocess.run(rargs, capture_output=True, text=True, env=env)
            check(r.returncode == 0, '%s: strata run --dry-run accepts every arg' % tag,
                  'exit %d: %s' % (r.returncode, r.stderr.strip()[-300:]))

    # Sharding.
    shards = flags.get('shards')
    if name == 'sharded':
        n = job.get('completions')
        check(job.get('completionMode') == 'Indexed', '%s: completionMode Indexed' % tag)
        check(isinstance(n, int) and n > 1 and job.get('parallelism') == n,
              '%s: parallelism == completions == %r' % (tag, n))
        check(shards == [str(n)], '%s: --shards=%s matches completions' % (tag, shards))
        check('shard' not in flags, '%s: no --shard (the index is JOB_COMPLETION_INDEX)' % tag)
        env = [e.get('name') for e in c.get('env', [])]
        check('JOB_COMPLETION_INDEX' not in env,
              '%s: JOB_COMPLETION_INDEX left to Kubernetes' % tag)
    else:
        check(job.get('completionMode', 'NonIndexed') == 'NonIndexed' and not shards,
              '%s: one pod, no --shards' % tag)


for name, objs in variants.items():
    check_variant(name, objs)

# ---- alert rules name metrics strata exposes -------------------------------------------------------
metrics_src = open(os.path.join(SRC, 'compactor', 'metrics.c')).read()
exposed = set(re.findall(r'"(strata_[a-z_]+)"', metrics_src))
rules = os.path.join(CRON, 'alerts', 'strata.rules.yaml')
groups = load_docs(rules)[0]['groups']
exprs = [r['expr'] for g in groups for r in g['rules'] if 'alert' in r]
used = set(re.findall(r'\bstrata_[a-z_]+', ' '.join(exprs)))
check(used and used <= exposed, 'alert rules use only metrics strata exposes: %s'
      % ', '.join(sorted(used)), 'not in compactor/metrics.c: %s' % sorted(used - exposed))
for metric in ('strata_last_success_timestamp_seconds', 'strata_blocks_quarantined_total'):
    check(any(metric in e for e in exprs), 'an alert on %s' % metric)

# ---- Dockerfile ----------------------------------------------------------------------------------
dockerfile = open(os.path.join(SRC, 'Dockerfile')).read()
lines = [l for l in re.sub(r'\\\n', ' ', dockerfile).splitlines() if not l.lstrip().startswith('#')]
froms = [l.split()[1] for l in lines if l.upper().startswith('FROM ')]
check(froms and all(f in ('debian:12-slim', 'debian:bookworm-slim') for f in froms),
      'Dockerfile: every stage FROM Debian 12 slim (%s)' % ', '.join(froms))
stages, cur = [], None
for l in lines:
    if l.upper().startswith('FROM '):
        cur = []
        stages.append(cur)
    elif cur is not None:
        cur.append(l)
check(len(stages) >= 2, 'Dockerfile: a build stage and a final stage (%d stages)' % len(stages))
build_text = '\n'.join(stages[0]) if stages else ''
final_text = '\n'.join(stages[-1]) if stages else ''
check(re.search(r'scripts/deps\.sh\s+--build-only', build_text) is not None,
      'Dockerfile: the build stage installs with scripts/deps.sh --build-only')
check(re.search(r'cmake\s+--build', build_text) is not None, 'Dockerfile: the build stage builds strata')
check('deps.sh' not in final_text and '-dev' not in final_text,
      'Dockerfile: the final stage has no build dependencies')
users = re.findall(r'^\s*USER\s+(\S+)', final_text, re.M)
check(users and users[-1].split(':')[0] not in ('root', '0'),
      'Dockerfile: the final stage runs as USER %s' % (users[-1] if users else None))
uid = users[-1].split(':')[0] if users else ''
cron_uids = {v['spec']['jobTemplate']['spec']['template']['spec'].get('securityContext', {})
             .get('runAsUser') for objs in variants.values() for v in objs if v['kind'] == 'CronJob'}
check(uid.isdigit() and cron_uids == {int(uid)},
      'Dockerfile USER %s is the CronJob\'s runAsUser %s' % (uid, sorted(cron_uids)))
check(re.search(r'ENTRYPOINT\s+\["/usr/local/bin/strata"\]', final_text) is not None,
      'Dockerfile: ENTRYPOINT is strata')
installed = set()
for m in re.finditer(r'apt-get\s+install\s+([^&;]*)', final_text):
    installed |= {w for w in m.group(1).split() if not w.startswith('-')}
# The native library directory (x86_64-linux-gnu): other owners of a name (libc6-i386) are not it.
mp = subprocess.run(['gcc', '-print-multiarch'], capture_output=True, text=True)
MULTIARCH = mp.stdout.strip() if mp.returncode == 0 and mp.stdout.strip() else 'x86_64-linux-gnu'
r = subprocess.run(['readelf', '-d', STRATA], capture_output=True, text=True)
needed = re.findall(r'\(NEEDED\)\s+Shared library: \[([^\]]+)\]', r.stdout)
check(r.returncode == 0 and needed, 'readelf -d %s lists %d shared libraries'
      % (os.path.basename(STRATA), len(needed)))
for lib in needed:
    if re.match(r'lib(asan|ubsan|lsan|tsan)\.so', lib):
        out('SKIP', 'runtime library %s: a sanitizer build, not what the image ships' % lib)
        continue
    p = subprocess.run(['dpkg', '-S', '*/' + lib], capture_output=True, text=True)
    owners = [l for l in p.stdout.splitlines() if '/%s/' % MULTIARCH in l] if p.returncode == 0 else []
    pkg = owners[0].split(':')[0] if owners else None
    check(pkg is not None and (pkg in installed or pkg in BASE_PKGS),
          'Dockerfile: runtime package %s (%s) is installed' % (pkg, lib),
          'not in the final stage\'s apt-get install (%s)' % ' '.join(sorted(installed)))
ignore = open(os.path.join(SRC, '.dockerignore')).read().split()
check('.git' in ignore and any(i.startswith('build') for i in ignore),
      '.dockerignore keeps .git and build directories out of the context')
