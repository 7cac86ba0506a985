/*
 * chunk.c - what every chunk encoding shares: the sample count (format notes §3.1, §5, §7).
 * XOR, histogram and float histogram chunks all open with a BE16 sample count; histogram
 * chunks follow it with a flags byte, so their header is 3 bytes. A Thanos aggregate chunk
 * (downsampled data, aggr.c) counts what its count sub-chunk counts, as Thanos'
 * AggrChunk.NumSamples does: one sample per window; 0 when the count aggregate is absent.
 */
#include "codec.h"

int codec_chunk_num_samples(const codec_chunk *c, uint32_t *n, const char *where, st_err *err)
{
    size_t header;
    *n = 0;
    switch (c->enc) {
    case CODEC_ENC_XOR:
        header = 2;
        break;
    case CODEC_ENC_HISTOGRAM:
    case CODEC_ENC_FLOAT_HISTOGRAM:
        header = 3;
        break;
    case CODEC_ENC_AGGR: {
        codec_chunk sub[CODEC_AGGR_N];
        int rc = codec_aggr_parse(c->data, c->len, sub, NULL, where, err);
        if (rc)
            return rc;
        if (!sub[CODEC_AGGR_COUNT].enc)
            return 0;
        return codec_chunk_num_samples(&sub[CODEC_AGGR_COUNT], n, where, err);
    }
    default:
        return st_err_set(err, ST_EUNSUPP, "%s: unknown chunk encoding 0x%02x", where ? where : "?",
                          c->enc);
    }
    if (c->len < header)
        return ST_CORRUPT(err, where, 0, "chunk of encoding %u is %u bytes, its header needs %zu",
                          c->enc, c->len, header);
    *n = codec_get_be16(c->data);
    return 0;
}
