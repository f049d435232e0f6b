/* The C implementation of `estuary_cdk.materialize.packed.unpack` (see that module, which is
 * the reference this is tested against, element for element and error for error).
 *
 * Every Store and Load request carries packed tuples; decoding them element by element in
 * Python costs about half a microsecond per element, more than the database spends inserting
 * the value. Here it is a single pass over the bytes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static PyObject *packed_error = NULL; /* estuary_cdk.materialize.packed.PackedError */

static PyObject *
fail(const char *what, Py_ssize_t offset)
{
    PyErr_Format(packed_error ? packed_error : PyExc_ValueError, "%s at offset %zd", what, offset);
    return NULL;
}

/* The payload of a 0x00-terminated element starting at `start`, with 0x00 0xFF unescaped. On
 * success sets *next to the offset after the terminator and returns a new bytes object. */
static PyObject *
terminated(const unsigned char *data, Py_ssize_t n, Py_ssize_t start, Py_ssize_t *next)
{
    const unsigned char *end = memchr(data + start, 0, (size_t)(n - start));
    if (end == NULL) {
        return fail("unterminated string or bytes element", start - 1);
    }
    Py_ssize_t stop = end - data;
    if (stop + 1 >= n || data[stop + 1] != 0xFF) {
        *next = stop + 1;
        return PyBytes_FromStringAndSize((const char *)data + start, stop - start);
    }
    /* Escaped NULs: copy piecewise. The result is never longer than the input. */
    PyObject *out = PyBytes_FromStringAndSize(NULL, n - start);
    if (out == NULL) {
        return NULL;
    }
    char *dst = PyBytes_AS_STRING(out);
    Py_ssize_t len = 0, pos = start;
    for (;;) {
        end = memchr(data + pos, 0, (size_t)(n - pos));
        if (end == NULL) {
            Py_DECREF(out);
            return fail("unterminated string or bytes element", start - 1);
        }
        stop = end - data;
        memcpy(dst + len, data + pos, (size_t)(stop - pos));
        len += stop - pos;
        if (stop + 1 < n && data[stop + 1] == 0xFF) {
            dst[len++] = 0;
            pos = stop + 2;
            continue;
        }
        *next = stop + 1;
        break;
    }
    if (_PyBytes_Resize(&out, len) < 0) {
        return NULL;
    }
    return out;
}

static PyObject *
big_int(const unsigned char *data, Py_ssize_t size, int negative)
{
    PyObject *magnitude = _PyLong_FromByteArray(data, (size_t)size, 0, 0);
    if (magnitude == NULL || !negative) {
        return magnitude;
    }
    /* One's complement: value = magnitude - (2^(8*size) - 1). */
    PyObject *shift = PyLong_FromSsize_t(8 * size);
    PyObject *one = PyLong_FromLong(1);
    PyObject *base = shift && one ? PyNumber_Lshift(one, shift) : NULL;
    PyObject *bias = base ? PyNumber_Subtract(base, one) : NULL;
    PyObject *value = bias ? PyNumber_Subtract(magnitude, bias) : NULL;
    Py_XDECREF(shift);
    Py_XDECREF(one);
    Py_XDECREF(base);
    Py_XDECREF(bias);
    Py_DECREF(magnitude);
    return value;
}

static PyObject *
element(const unsigned char *data, Py_ssize_t n, Py_ssize_t *pos_io)
{
    Py_ssize_t pos = *pos_io;
    unsigned char code = data[pos++];
    PyObject *value = NULL;

    if (code == 0x02 || code == 0x01) {
        Py_ssize_t next;
        PyObject *raw = terminated(data, n, pos, &next);
        if (raw == NULL) {
            return NULL;
        }
        if (code == 0x01) {
            value = raw;
        } else {
            value = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), NULL);
            Py_DECREF(raw);
            if (value == NULL) {
                PyErr_Clear();
                return fail("string element is not UTF-8", pos - 1);
            }
        }
        pos = next;
    } else if (code >= 0x0c && code <= 0x1c) {
        int positive = code >= 0x14;
        Py_ssize_t size = positive ? code - 0x14 : 0x14 - code;
        if (pos + size > n) {
            return fail("truncated integer element", pos - 1);
        }
        unsigned long long raw = 0;
        for (Py_ssize_t i = 0; i < size; i++) {
            raw = (raw << 8) | data[pos + i];
        }
        if (positive) {
            value = PyLong_FromUnsignedLongLong(raw);
        } else if (size < 8) {
            long long bias = (long long)((1ULL << (8 * size)) - 1);
            value = PyLong_FromLongLong((long long)raw - bias);
        } else {
            value = big_int(data + pos, size, 1);
        }
        pos += size;
    } else if (code == 0x00) {
        value = Py_NewRef(Py_None);
    } else if (code == 0x21 || code == 0x20) {
        Py_ssize_t size = code == 0x21 ? 8 : 4;
        if (pos + size > n) {
            return fail(code == 0x21 ? "truncated double element" : "truncated float element", pos - 1);
        }
        unsigned char raw[8];
        memcpy(raw, data + pos, (size_t)size);
        if (raw[0] & 0x80) {
            raw[0] ^= 0x80;
        } else {
            for (Py_ssize_t i = 0; i < size; i++) {
                raw[i] ^= 0xFF;
            }
        }
        double d = size == 8 ? PyFloat_Unpack8((const char *)raw, 0) : PyFloat_Unpack4((const char *)raw, 0);
        if (d == -1.0 && PyErr_Occurred()) {
            return NULL;
        }
        value = PyFloat_FromDouble(d);
        pos += size;
    } else if (code == 0x27) {
        value = Py_NewRef(Py_True);
    } else if (code == 0x26) {
        value = Py_NewRef(Py_False);
    } else if (code == 0x1d || code == 0x0b) {
        if (pos >= n) {
            return fail("truncated integer element", pos - 1);
        }
        Py_ssize_t size = code == 0x1d ? data[pos] : data[pos] ^ 0xFF;
        if (pos + 1 + size > n) {
            return fail("truncated integer element", pos - 1);
        }
        value = big_int(data + pos + 1, size, code == 0x0b);
        pos += 1 + size;
    } else {
        /* UUIDs and the rest are rare: leave them to the reference implementation's message. */
        PyErr_Format(packed_error ? packed_error : PyExc_ValueError,
                     "unsupported tuple element type 0x%02x at offset %zd", code, pos - 1);
        return NULL;
    }
    *pos_io = pos;
    return value;
}

static PyObject *
unpack(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    const unsigned char *data = view.buf;
    Py_ssize_t n = view.len, pos = 0, count = 0;
    PyObject *items[64];
    PyObject **elements = items;
    Py_ssize_t capacity = 64;
    PyObject *result = NULL;

    while (pos < n) {
        if (count == capacity) {
            Py_ssize_t grown = capacity * 2;
            PyObject **more = PyMem_Malloc((size_t)grown * sizeof(PyObject *));
            if (more == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            memcpy(more, elements, (size_t)count * sizeof(PyObject *));
            if (elements != items) {
                PyMem_Free(elements);
            }
            elements = more;
            capacity = grown;
        }
        PyObject *value = element(data, n, &pos);
        if (value == NULL) {
            goto done;
        }
        elements[count++] = value;
    }
    result = PyTuple_New(count);
    if (result != NULL) {
        for (Py_ssize_t i = 0; i < count; i++) {
            PyTuple_SET_ITEM(result, i, elements[i]);
        }
        count = 0; /* the tuple owns them now */
    }
done:
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_DECREF(elements[i]);
    }
    if (elements != items) {
        PyMem_Free(elements);
    }
    PyBuffer_Release(&view);
    return result;
}

static PyObject *
set_error_class(PyObject *module, PyObject *cls)
{
    Py_XSETREF(packed_error, Py_NewRef(cls));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"unpack", unpack, METH_O, "Unpack a FoundationDB-packed tuple into a tuple of Python values."},
    {"set_error_class", set_error_class, METH_O, "The exception class raised for invalid input."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_packed_c", "C implementation of packed.unpack", -1, methods,
};

PyMODINIT_FUNC
PyInit__packed_c(void)
{
    return PyModule_Create(&module_def);
}
