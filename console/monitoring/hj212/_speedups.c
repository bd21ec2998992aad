/* HJ 212 codec speed-ups: the Appendix A CRC and the common-form CP parser, in C.
 *
 * Optional: console.monitoring.hj212.codec falls back to its pure-Python code (the reference,
 * which the tests compare this module against) when the extension was not built. Both
 * functions only read their input; split_cp answers None whenever the pure-Python parser has
 * to decide (PolId groups, empty items, numbers it writes differently, errors), so it never
 * accepts what that parser would reject, and never words an error itself.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static unsigned short crc_table[256]; /* reflected polynomial 0xA001 */
static unsigned char crc_power[8][256]; /* crc_power[r][x]: r steps of the high-byte map */

/* See crc.py: only the register's high byte carries from one byte to the next, through a
 * linear map of order 8, so the CRC depends on the XOR of the bytes in each of eight lanes
 * (position mod 8). Folding 8-byte words is independent work the CPU overlaps, where the
 * byte-by-byte table loop waits for each lookup before the next. */
static void
build_crc_tables(void)
{
    for (unsigned int byte = 0; byte < 256; byte++) {
        unsigned int crc = byte;
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 1) ? (crc >> 1) ^ 0xA001 : crc >> 1;
        }
        crc_table[byte] = (unsigned short)crc;
    }
    for (unsigned int x = 0; x < 256; x++) {
        crc_power[0][x] = (unsigned char)x;
    }
    for (int r = 1; r < 8; r++) {
        for (unsigned int x = 0; x < 256; x++) {
            crc_power[r][x] = (unsigned char)(crc_table[crc_power[r - 1][x]] >> 8);
        }
    }
}

static unsigned int
crc_of(const unsigned char *bytes, Py_ssize_t size)
{
    if (size == 0) {
        return 0xFFFF;
    }
    Py_ssize_t m = size - 1; /* every byte but the last goes into a lane */
    uint64_t words = 0;
    Py_ssize_t i = 0;
    for (; i + 8 <= m; i += 8) {
        uint64_t word;
        memcpy(&word, bytes + i, 8);
        words ^= word;
    }
    unsigned char lane[8]; /* lane[k]: XOR of the bytes at positions k, k + 8 … */
    memcpy(lane, &words, 8); /* back in memory order, whatever the machine's byte order */
    for (; i < m; i++) {
        lane[i & 7] ^= bytes[i];
    }
    unsigned int high = crc_power[m & 7][0xFF];
    for (int k = 0; k < 8; k++) {
        high ^= crc_power[(m - k) & 7][lane[k]];
    }
    return crc_table[high ^ bytes[m]];
}

static PyObject *
crc16_hj212(PyObject *module, PyObject *data)
{
    (void)module;
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    unsigned int crc = crc_of(view.buf, view.len);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(crc);
}

/* What a CP key means, as codec._key_info decides it. */
enum { VALUE_NUMBER, VALUE_TEXT, DATA_TIME, PARAM_NUMBER, PARAM_TEXT };

/* Numbers of up to this many characters are converted here; longer ones go to Python. */
#define NUMBER_BUFFER 64

static const double powers_of_ten[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* A plain decimal of at most 15 digits ([+-]digits[.digits]) is an integer below 2**53 over
 * an exact power of ten, so one IEEE division rounds it exactly as strtod would. 1 if done. */
static int
plain_decimal(const char *text, Py_ssize_t size, double *result)
{
    Py_ssize_t i = 0;
    int negative = 0;
    if (i < size && (text[i] == '-' || text[i] == '+')) {
        negative = text[i] == '-';
        i++;
    }
    uint64_t mantissa = 0;
    int digits = 0;
    int decimals = -1; /* digits after the point; -1 before a point */
    for (; i < size; i++) {
        char c = text[i];
        if (c >= '0' && c <= '9') {
            if (++digits > 15) {
                return 0;
            }
            mantissa = mantissa * 10 + (uint64_t)(c - '0');
            if (decimals >= 0) {
                decimals++;
            }
        }
        else if (c == '.' && decimals < 0) {
            decimals = 0;
        }
        else {
            return 0;
        }
    }
    if (digits == 0) {
        return 0;
    }
    double value = (double)mantissa;
    if (decimals > 0) {
        value /= powers_of_ten[decimals];
    }
    *result = negative ? -value : value;
    return 1;
}

/* A finite float from exactly text[0:size]. NULL without an exception set when this parser
 * leaves the text to Python's float() (spaces, underscores, too long, not finite, invalid);
 * NULL with one set only when out of memory. */
static PyObject *
finite_float(const char *text, Py_ssize_t size)
{
    double number;
    if (plain_decimal(text, size, &number)) {
        return PyFloat_FromDouble(number);
    }
    char buffer[NUMBER_BUFFER];
    if (size <= 0 || size >= NUMBER_BUFFER) {
        return NULL;
    }
    memcpy(buffer, text, (size_t)size);
    buffer[size] = '\0';
    char *end = NULL;
    number = PyOS_string_to_double(buffer, &end, NULL);
    if (number == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return NULL;
    }
    if (end != buffer + size || !isfinite(number)) {
        return NULL;
    }
    return PyFloat_FromDouble(number);
}

static int
all_digits(const char *text, Py_ssize_t size)
{
    if (size <= 0) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < size; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return 0;
        }
    }
    return 1;
}

static PyObject *
interned(const char *text, Py_ssize_t size)
{
    PyObject *result = PyUnicode_DecodeUTF8(text, size, "strict");
    if (result != NULL) {
        PyUnicode_InternInPlace(&result);
    }
    return result;
}

/* -- what each CP key means, cached: stations repeat the same few dozen keys forever -------- */

#define KEY_MAX 48          /* longer keys are looked at every time, not cached */
#define KEY_SLOTS 4096      /* a power of two */
#define KEY_PROBES 8

typedef struct {
    Py_ssize_t size; /* 0: free */
    char text[KEY_MAX];
    PyObject *code;  /* the code (w01018) of a per-code value, else NULL */
    PyObject *name;  /* the suffix (Rtd, Flag …), or the parameter's name */
    int kind;
} KeyInfo;

static KeyInfo key_cache[KEY_SLOTS];
static Py_ssize_t key_cache_used;
static PyObject *numeric_suffixes; /* frozenset[str], set by configure() */
static PyObject *numeric_params;

static void
clear_key_cache(void)
{
    for (Py_ssize_t i = 0; i < KEY_SLOTS; i++) {
        if (key_cache[i].size) {
            key_cache[i].size = 0;
            Py_CLEAR(key_cache[i].code);
            Py_CLEAR(key_cache[i].name);
        }
    }
    key_cache_used = 0;
}

static size_t
key_hash(const char *text, Py_ssize_t size)
{
    size_t hash = 2166136261u; /* FNV-1a */
    for (Py_ssize_t i = 0; i < size; i++) {
        hash = (hash ^ (unsigned char)text[i]) * 16777619u;
    }
    return hash;
}

/* Fill *info (new references) with the meaning of a key, as codec._key_info gives it. */
static int
key_info(const char *key, Py_ssize_t size, KeyInfo *info)
{
    size_t hash = 0;
    if (size < KEY_MAX) {
        hash = key_hash(key, size);
        for (size_t probe = 0; probe < KEY_PROBES; probe++) {
            KeyInfo *slot = &key_cache[(hash + probe) & (KEY_SLOTS - 1)];
            if (slot->size == 0) {
                break;
            }
            if (slot->size == size && memcmp(slot->text, key, (size_t)size) == 0) {
                *info = *slot;
                Py_XINCREF(info->code);
                Py_INCREF(info->name);
                return 0;
            }
        }
    }
    const char *dash = memchr(key, '-', (size_t)size);
    info->code = NULL;
    if (dash != NULL && dash > key) {
        info->code = interned(key, dash - key);
        if (info->code == NULL) {
            return -1;
        }
        info->name = interned(dash + 1, key + size - dash - 1);
    }
    else {
        info->name = interned(key, size);
    }
    if (info->name == NULL) {
        Py_CLEAR(info->code);
        return -1;
    }
    if (info->code != NULL) {
        int numeric = PySet_Contains(numeric_suffixes, info->name);
        info->kind = numeric ? VALUE_NUMBER : VALUE_TEXT;
        if (numeric < 0) {
            goto failed;
        }
    }
    else if (size == 8 && memcmp(key, "DataTime", 8) == 0) {
        info->kind = DATA_TIME;
    }
    else {
        int numeric = PySet_Contains(numeric_params, info->name);
        info->kind = numeric ? PARAM_NUMBER : PARAM_TEXT;
        if (numeric < 0) {
            goto failed;
        }
    }
    if (size < KEY_MAX) {
        if (key_cache_used >= KEY_SLOTS / 2) {
            clear_key_cache(); /* a flood of one-off keys must not slow every lookup down */
        }
        for (size_t probe = 0; probe < KEY_PROBES; probe++) {
            KeyInfo *slot = &key_cache[(hash + probe) & (KEY_SLOTS - 1)];
            if (slot->size == 0) {
                slot->size = size;
                memcpy(slot->text, key, (size_t)size);
                slot->code = Py_XNewRef(info->code);
                slot->name = Py_NewRef(info->name);
                slot->kind = info->kind;
                key_cache_used++;
                break;
            }
        }
    }
    return 0;
failed:
    Py_CLEAR(info->code);
    Py_CLEAR(info->name);
    return -1;
}

/* Place one key=value sub-item; 1 done, 0 leave the whole CP to Python, -1 error set. */
static int
place(const char *key, Py_ssize_t key_size, const char *value, Py_ssize_t value_size,
      PyObject *values, PyObject *params, PyObject **data_time)
{
    KeyInfo info;
    if (key_info(key, key_size, &info) < 0) {
        return -1;
    }
    PyObject *item = NULL;
    int result = -1;
    switch (info.kind) {
    case VALUE_NUMBER:
    case PARAM_NUMBER:
        if (info.kind == PARAM_NUMBER && all_digits(value, value_size)
            && value_size < NUMBER_BUFFER) {
            char buffer[NUMBER_BUFFER];
            memcpy(buffer, value, (size_t)value_size);
            buffer[value_size] = '\0';
            item = PyLong_FromString(buffer, NULL, 10);
            if (item == NULL) {
                goto done;
            }
        }
        else {
            item = finite_float(value, value_size);
            if (item == NULL) {
                result = PyErr_Occurred() ? -1 : 0;
                goto done;
            }
        }
        break;
    default:
        item = PyUnicode_DecodeUTF8(value, value_size, "strict");
        if (item == NULL) {
            goto done;
        }
    }
    if (info.kind == DATA_TIME) {
        Py_XSETREF(*data_time, item);
        item = NULL;
        result = 1;
    }
    else if (info.code == NULL) {
        result = PyDict_SetItem(params, info.name, item) < 0 ? -1 : 1;
    }
    else {
        PyObject *fields = PyDict_GetItemWithError(values, info.code); /* borrowed */
        if (fields == NULL) {
            if (PyErr_Occurred()) {
                goto done;
            }
            fields = PyDict_New();
            if (fields == NULL) {
                goto done;
            }
            int failed = PyDict_SetItem(values, info.code, fields);
            Py_DECREF(fields); /* values holds it */
            if (failed < 0) {
                goto done;
            }
        }
        result = PyDict_SetItem(fields, info.name, item) < 0 ? -1 : 1;
    }
done:
    Py_XDECREF(item);
    Py_XDECREF(info.code);
    Py_DECREF(info.name);
    return result;
}

/* configure(numeric_suffixes, numeric_params): the suffixes and parameters that are numbers */
static PyObject *
configure(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2 || !PyFrozenSet_Check(args[0]) || !PyFrozenSet_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "configure(numeric_suffixes: frozenset, numeric_params: frozenset)");
        return NULL;
    }
    clear_key_cache();
    Py_XSETREF(numeric_suffixes, Py_NewRef(args[0]));
    Py_XSETREF(numeric_params, Py_NewRef(args[1]));
    Py_RETURN_NONE;
}

/* split_cp(cp) -> (values, params, data_time) | None */
static PyObject *
split_cp(PyObject *module, PyObject *cp)
{
    (void)module;
    if (!PyUnicode_Check(cp)) {
        PyErr_SetString(PyExc_TypeError, "split_cp() takes a str");
        return NULL;
    }
    if (numeric_suffixes == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "split_cp() before configure()");
        return NULL;
    }
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(cp, &size);
    if (text == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            return NULL;
        }
        PyErr_Clear(); /* lone surrogates (never in a decoded frame): the Python parser */
        Py_RETURN_NONE;
    }
    const char *stop = text + size;
    if (size == 0) {
        Py_RETURN_NONE;
    }
    for (const char *p = text; (p = memchr(p, 'P', (size_t)(stop - p))) != NULL; p++) {
        if (stop - p >= 5 && memcmp(p, "PolId", 5) == 0) {
            Py_RETURN_NONE; /* PolId groups: the general parser */
        }
    }
    PyObject *values = PyDict_New();
    PyObject *params = PyDict_New();
    PyObject *data_time = NULL;
    if (values == NULL || params == NULL) {
        goto failed;
    }
    const char *start = text;
    while (start <= stop) {
        const char *equals = NULL;
        const char *end = start;
        for (; end < stop && *end != ';' && *end != ','; end++) {
            if (*end == '=') {
                if (equals != NULL) {
                    goto not_common; /* two '=' in one sub-item */
                }
                equals = end;
            }
        }
        if (equals == NULL || equals == start) {
            goto not_common; /* an empty item, a key without '=', or an empty key */
        }
        int placed =
            place(start, equals - start, equals + 1, end - equals - 1, values, params, &data_time);
        if (placed < 0) {
            goto failed;
        }
        if (placed == 0) {
            goto not_common;
        }
        start = end + 1;
    }
    PyObject *result = PyTuple_Pack(3, values, params, data_time ? data_time : Py_None);
    Py_DECREF(values);
    Py_DECREF(params);
    Py_XDECREF(data_time);
    return result;
not_common:
    Py_DECREF(values);
    Py_DECREF(params);
    Py_XDECREF(data_time);
    Py_RETURN_NONE;
failed:
    Py_XDECREF(values);
    Py_XDECREF(params);
    Py_XDECREF(data_time);
    return NULL;
}

static PyMethodDef methods[] = {
    {"crc16_hj212", crc16_hj212, METH_O,
     "CRC of HJ 212-2017 Appendix A over a bytes-like object."},
    {"split_cp", split_cp, METH_O,
     "(values, params, data_time) of a common-form CP body, or None for the Python parser."},
    {"configure", (PyCFunction)(void (*)(void))configure, METH_FASTCALL,
     "Set the CP suffixes and parameters whose values are numbers (and empty the key cache)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "console.monitoring.hj212._speedups",
    "HJ 212 codec speed-ups (optional; see codec.py).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    build_crc_tables();
    return PyModule_Create(&module);
}
