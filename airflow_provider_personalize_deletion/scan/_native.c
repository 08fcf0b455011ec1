/*
 * The scan's native pre-filter (optional; see scan/native.py, which decides whether it is used).
 *
 * csv_candidates(data, column, key, keys, starts, shift) reads a block of whole, unquoted CSV records
 * and returns (records, positions, offsets): how many records the block holds, and the position (from
 * 0) and start offset of each record whose USER_ID's HMAC-SHA256 under `key` has its first 12 bytes in
 * the suppressed set. The set is SuppressedUsers' own buffers: `keys` the sorted 12-byte keys,
 * `starts` the uint32 directory of bucket starts (2**bits + 1 entries), `shift` = 64 - bits.
 *
 * It is a conservative pre-filter: the caller confirms every candidate with the Python reader and
 * the exact lookup. It handles a block only when every line is one it reads exactly as the Python
 * reader does, and returns None otherwise (the Python reader then reads the block and decides):
 * a double quote or a backslash anywhere in a line, a CR not right before its LF, fewer fields than
 * the USER_ID position, an empty USER_ID, or one of more than 256 bytes. It never raises on the
 * data; it reports no id and keeps none.
 */
#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED
#include <Python.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

#define KEY_BYTES 12
#define MAX_ID_BYTES 256
#define BATCH 32

typedef struct {
    SHA256_CTX inner;
    SHA256_CTX outer;
} HmacStates;

static void hmac_states(HmacStates *states, const unsigned char *key, Py_ssize_t length) {
    unsigned char block[SHA256_CBLOCK] = {0};
    unsigned char pad[SHA256_CBLOCK];
    if (length > SHA256_CBLOCK) {
        SHA256(key, (size_t)length, block);
    } else {
        memcpy(block, key, (size_t)length);
    }
    for (int i = 0; i < SHA256_CBLOCK; i++) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&states->inner);
    SHA256_Update(&states->inner, pad, SHA256_CBLOCK);
    for (int i = 0; i < SHA256_CBLOCK; i++) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&states->outer);
    SHA256_Update(&states->outer, pad, SHA256_CBLOCK);
}

static inline void store_big_endian_32(unsigned char *bytes, uint32_t value) {
    bytes[0] = (unsigned char)(value >> 24);
    bytes[1] = (unsigned char)(value >> 16);
    bytes[2] = (unsigned char)(value >> 8);
    bytes[3] = (unsigned char)value;
}

static inline void store_big_endian_64(unsigned char *bytes, uint64_t value) {
    store_big_endian_32(bytes, (uint32_t)(value >> 32));
    store_big_endian_32(bytes + 4, (uint32_t)value);
}

/* HMAC-SHA256 of one id (at most MAX_ID_BYTES) from the prepared states: SHA-256's padding is written
 * here and the blocks go straight to SHA256_Transform (OpenSSL's block function, SHA-NI where the CPU
 * has it), without SHA256_Update's and SHA256_Final's buffering. */
static inline void hmac_digest(const HmacStates *states, const unsigned char *id, size_t length,
                               unsigned char out[SHA256_DIGEST_LENGTH]) {
    unsigned char message[MAX_ID_BYTES + 2 * SHA256_CBLOCK];
    size_t blocks = (length + 9 + SHA256_CBLOCK - 1) / SHA256_CBLOCK;
    memcpy(message, id, length);
    message[length] = 0x80;
    memset(message + length + 1, 0, blocks * SHA256_CBLOCK - length - 9);
    store_big_endian_64(message + blocks * SHA256_CBLOCK - 8, (uint64_t)(SHA256_CBLOCK + length) * 8);
    SHA256_CTX context = states->inner;
    for (size_t block = 0; block < blocks; block++) SHA256_Transform(&context, message + block * SHA256_CBLOCK);
    unsigned char outer[SHA256_CBLOCK] = {0};
    for (int i = 0; i < 8; i++) store_big_endian_32(outer + 4 * i, context.h[i]);
    outer[SHA256_DIGEST_LENGTH] = 0x80;
    store_big_endian_64(outer + SHA256_CBLOCK - 8, (uint64_t)(SHA256_CBLOCK + SHA256_DIGEST_LENGTH) * 8);
    context = states->outer;
    SHA256_Transform(&context, outer);
    for (int i = 0; i < 8; i++) store_big_endian_32(out + 4 * i, context.h[i]);
}

static inline uint64_t big_endian_64(const unsigned char *bytes) {
    uint64_t value = 0;
    for (int i = 0; i < 8; i++) value = (value << 8) | bytes[i];
    return value;
}

typedef struct {
    const unsigned char *keys;
    Py_ssize_t key_count;
    const uint32_t *starts;
    unsigned shift;
} KeySet;

typedef struct {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    size_t bucket;
    Py_ssize_t position;
    Py_ssize_t offset;
} Pending;

/* Look a batch of digests up: prefetch every bucket's directory entry, then its keys, then compare,
 * so that the random reads of a large set overlap instead of stalling one after the other. */
static int flush(const KeySet *set, Pending *pending, int count, PyObject *positions, PyObject *offsets) {
    for (int i = 0; i < count; i++) __builtin_prefetch(&set->starts[pending[i].bucket]);
    for (int i = 0; i < count; i++) {
        uint32_t first = set->starts[pending[i].bucket];
        if (first < (uint32_t)set->key_count) __builtin_prefetch(set->keys + (size_t)first * KEY_BYTES);
    }
    for (int i = 0; i < count; i++) {
        uint32_t first = set->starts[pending[i].bucket], end = set->starts[pending[i].bucket + 1];
        if (end > (uint32_t)set->key_count) end = (uint32_t)set->key_count;
        for (uint32_t k = first; k < end; k++) {
            int order = memcmp(set->keys + (size_t)k * KEY_BYTES, pending[i].digest, KEY_BYTES);
            if (order > 0) break;
            if (order == 0) {
                PyObject *position = PyLong_FromSsize_t(pending[i].position);
                PyObject *offset = PyLong_FromSsize_t(pending[i].offset);
                int failed = !position || !offset || PyList_Append(positions, position) ||
                             PyList_Append(offsets, offset);
                Py_XDECREF(position);
                Py_XDECREF(offset);
                if (failed) return -1;
                break;
            }
        }
    }
    return 0;
}

static PyObject *csv_candidates(PyObject *module, PyObject *args) {
    Py_buffer data, key, keys, starts;
    Py_ssize_t column;
    unsigned shift;
    if (!PyArg_ParseTuple(args, "y*ny*y*y*I", &data, &column, &key, &keys, &starts, &shift)) return NULL;
    PyObject *result = NULL, *positions = NULL, *offsets = NULL;
    Pending *pending = NULL;
    Py_ssize_t directory = starts.len / (Py_ssize_t)sizeof(uint32_t);
    if (column < 0 || shift < 1 || shift > 63 || keys.len % KEY_BYTES ||
        directory != ((Py_ssize_t)1 << (64 - shift)) + 1) {
        PyErr_SetString(PyExc_ValueError, "csv_candidates: inconsistent column or set buffers");
        goto done;
    }
    positions = PyList_New(0);
    offsets = PyList_New(0);
    pending = PyMem_Malloc(sizeof(Pending) * BATCH);
    if (!positions || !offsets || !pending) goto done;
    HmacStates states;
    hmac_states(&states, key.buf, key.len);
    KeySet set = {keys.buf, keys.len / KEY_BYTES, starts.buf, shift};
    const unsigned char *bytes = data.buf, *end = bytes + data.len, *line = bytes;
    Py_ssize_t records = 0;
    int queued = 0, handled = 1;
    /* Refusals of the whole block first (memchr is vectorised): a quote, a backslash, a lone CR. */
    if (memchr(bytes, '"', (size_t)data.len) || memchr(bytes, '\\', (size_t)data.len)) handled = 0;
    for (const unsigned char *cr = memchr(bytes, '\r', (size_t)data.len); handled && cr;
         cr = memchr(cr + 1, '\r', (size_t)(end - cr - 1))) {
        if (cr + 1 >= end || cr[1] != '\n') handled = 0;
        if (cr + 1 >= end) break;
    }
    while (handled && line < end) {
        /* The USER_ID field: after `column` commas, up to a comma, CR, LF or the end of the line. */
        const unsigned char *newline = memchr(line, '\n', (size_t)(end - line));
        const unsigned char *line_end = newline ? newline : end, *id = line;
        for (Py_ssize_t commas = 0; id && commas < column; commas++) {
            id = memchr(id, ',', (size_t)(line_end - id));
            if (id) id++;
        }
        const unsigned char *id_end = id;
        while (id_end && id_end < line_end && *id_end != ',' && *id_end != '\r') id_end++;
        if (!id || id_end == id || id_end - id > MAX_ID_BYTES) {
            handled = 0;
            break;
        }
        Pending *entry = &pending[queued++];
        hmac_digest(&states, id, (size_t)(id_end - id), entry->digest);
        entry->bucket = (size_t)(big_endian_64(entry->digest) >> shift);
        entry->position = records++;
        entry->offset = line - bytes;
        if (queued == BATCH) {
            if (flush(&set, pending, queued, positions, offsets)) goto done;
            queued = 0;
        }
        line = line_end + 1;
    }
    if (!handled) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    if (flush(&set, pending, queued, positions, offsets)) goto done;
    result = Py_BuildValue("nOO", records, positions, offsets);
done:
    PyMem_Free(pending);
    Py_XDECREF(positions);
    Py_XDECREF(offsets);
    PyBuffer_Release(&data);
    PyBuffer_Release(&key);
    PyBuffer_Release(&keys);
    PyBuffer_Release(&starts);
    return result;
}

static PyMethodDef methods[] = {
    {"csv_candidates", csv_candidates, METH_VARARGS,
     "csv_candidates(data, column, key, keys, starts, shift) -> (records, positions, offsets) or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", NULL, -1, methods};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
