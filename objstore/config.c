/*
 * config.c - Thanos-style objstore YAML: `type:` (FILESYSTEM or S3, case-insensitive), `config:`
 * with the backend's keys, optional `prefix:`. Loaded with libyaml's document API; unknown keys
 * are errors that name them, so a typo never silently falls back to a default.
 */
#include "objstore_int.h"

#include <string.h>
#include <strings.h>

yaml_node_t *objstore_yaml_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

const char *objstore_yaml_scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Every key of map must be in allowed (NULL-terminated). */
static int check_keys(yaml_document_t *doc, yaml_node_t *map, const char *const *allowed,
                      const char *where, const char *name, st_err *err)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *k = objstore_yaml_scalar(yaml_document_get_node(doc, p->key));
        int ok = 0;
        for (size_t i = 0; k && allowed[i]; i++)
            ok |= strcmp(k, allowed[i]) == 0;
        if (!ok)
            return st_err_set(err, ST_EINVAL, "%s: unknown key \"%s\" in %s", name,
                              k ? k : "(not a string)", where);
    }
    return 0;
}

static int open_filesystem(objstore **out, yaml_document_t *doc, yaml_node_t *cfg,
                           const char *name, st_err *err)
{
    static const char *const keys[] = {"directory", NULL};
    if (!cfg || cfg->type != YAML_MAPPING_NODE)
        return st_err_set(err, ST_EINVAL, "%s: FILESYSTEM needs config: {directory: DIR}", name);
    int rc = check_keys(doc, cfg, keys, "config", name, err);
    if (rc)
        return rc;
    const char *dir = objstore_yaml_scalar(objstore_yaml_get(doc, cfg, "directory"));
    if (!dir || !*dir)
        return st_err_set(err, ST_EINVAL, "%s: FILESYSTEM config has no directory", name);
    return objstore_fs_open(out, dir, err);
}

int objstore_open_yaml(objstore **out, const char *yaml, size_t len, const char *name,
                       st_err *err)
{
    static const char *const top_keys[] = {"type", "config", "prefix", NULL};
    *out = NULL;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return st_err_set(err, ST_ENOMEM, "%s: out of memory", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        int rc = st_err_set(err, ST_EINVAL, "%s: bad YAML at line %zu, column %zu: %s", name,
                            parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                            parser.problem ? parser.problem : "parse error");
        yaml_parser_delete(&parser);
        return rc;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = st_err_set(err, ST_EINVAL, "%s: expected a mapping with type: and config:", name);
        goto done;
    }
    if ((rc = check_keys(&doc, root, top_keys, "the top level", name, err)))
        goto done;
    const char *type = objstore_yaml_scalar(objstore_yaml_get(&doc, root, "type"));
    const char *prefix = objstore_yaml_scalar(objstore_yaml_get(&doc, root, "prefix"));
    yaml_node_t *cfg = objstore_yaml_get(&doc, root, "config");
    if (prefix && *prefix) {
        rc = st_err_set(err, ST_EUNSUPP, "%s: prefix: is not supported yet", name);
        goto done;
    }
    if (!type) {
        rc = st_err_set(err, ST_EINVAL, "%s: no type: (FILESYSTEM or S3)", name);
        goto done;
    }
    if (strcasecmp(type, "FILESYSTEM") == 0)
        rc = open_filesystem(out, &doc, cfg, name, err);
    else if (strcasecmp(type, "S3") == 0)
        rc = st_err_set(err, ST_EUNSUPP, "%s: type S3 is not built yet", name);
    else
        rc = st_err_set(err, ST_EINVAL, "%s: unknown type \"%s\" (FILESYSTEM or S3)", name, type);
done:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}
