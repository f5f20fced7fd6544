/* maskforge._native: an optional compiled accelerator for mask updates on a CPU.
 *
 * The functions take raw addresses and sizes; maskforge/native.py checks dtypes, devices,
 * sizes and contiguity before calling them, and every result is also computed by the pure
 * torch + numpy path, which tests compare against. The GIL is released while a kernel runs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "kernels.h"

#define MAX_KERNELS 4
#define MAX_TARGETS 16

static const char *kernel_names[MAX_KERNELS];
static reach_kernel kernels[MAX_KERNELS];
static int n_kernels = 0;

#define ADDRESS(x) ((void *)(uintptr_t)(x))

PyDoc_STRVAR(reach_doc,
"reach(x, n, excluded, bound, largest, magnitude, positions, scores, capacity, offset, kernel) -> int\n\n"
"Scan n float32 entries at address x; write the positions (plus offset) and scores of the\n"
"entries not excluded (bool flags at address excluded, 0 for none) whose score (|x| with\n"
"magnitude) is >= bound (<= unless largest), at most capacity of them, in increasing order.\n"
"Returns how many there are in all: above capacity, the output was too small (nothing past\n"
"capacity was written). kernel indexes kernels().");

static PyObject *py_reach(PyObject *Py_UNUSED(self), PyObject *args) {
    unsigned long long x, excl, pos, val;
    Py_ssize_t n, cap, offset;
    float bound;
    int largest, magnitude, kernel;
    if (!PyArg_ParseTuple(args, "KnKfppKKnni", &x, &n, &excl, &bound, &largest, &magnitude, &pos, &val, &cap, &offset,
                          &kernel))
        return NULL;
    if (kernel < 0 || kernel >= n_kernels) return PyErr_Format(PyExc_ValueError, "kernel must be in [0, %d), got %d", n_kernels, kernel);
    if (n < 0 || cap < 0) return PyErr_Format(PyExc_ValueError, "n and capacity must be non-negative");
    int64_t found;
    Py_BEGIN_ALLOW_THREADS
    found = kernels[kernel](ADDRESS(x), n, ADDRESS(excl), bound, largest, magnitude, ADDRESS(pos), ADDRESS(val), cap, offset);
    Py_END_ALLOW_THREADS
    return PyLong_FromLongLong(found);
}

PyDoc_STRVAR(gather_doc,
"gather_magnitudes(x, n, index, m, out) -> (nan, out_of_range)\n\n"
"Write |x[index[k]]| for the m int64 indices at address index into the m float32 at address\n"
"out (x: n float32); return how many are NaN and how many indices were out of range (0 written).");

static PyObject *py_gather_magnitudes(PyObject *Py_UNUSED(self), PyObject *args) {
    unsigned long long x, index, out;
    Py_ssize_t n, m;
    if (!PyArg_ParseTuple(args, "KnKnK", &x, &n, &index, &m, &out)) return NULL;
    if (n < 0 || m < 0) return PyErr_Format(PyExc_ValueError, "sizes must be non-negative");
    int64_t nan, bad;
    Py_BEGIN_ALLOW_THREADS
    nan = gather_magnitudes(ADDRESS(x), n, ADDRESS(index), m, ADDRESS(out), &bad);
    Py_END_ALLOW_THREADS
    return Py_BuildValue("LL", (long long)nan, (long long)bad);
}

PyDoc_STRVAR(replace_doc,
"replace_at(old, n, positions, values, m, out) -> int\n\n"
"Copy the n int64 at address old to out, with values[k] at positions[k] for the m strictly\n"
"increasing positions; return n, or -1 (out incomplete) when the positions are not strictly\n"
"increasing or not below n.");

static PyObject *py_replace_at(PyObject *Py_UNUSED(self), PyObject *args) {
    unsigned long long old, positions, values, out;
    Py_ssize_t n, m;
    if (!PyArg_ParseTuple(args, "KnKKnK", &old, &n, &positions, &values, &m, &out)) return NULL;
    if (n < 0 || m < 0) return PyErr_Format(PyExc_ValueError, "sizes must be non-negative");
    int64_t written;
    Py_BEGIN_ALLOW_THREADS
    written = replace_at(ADDRESS(old), n, ADDRESS(positions), ADDRESS(values), m, ADDRESS(out));
    Py_END_ALLOW_THREADS
    return PyLong_FromLongLong(written);
}

PyDoc_STRVAR(sample_doc,
"sample(x, n, excluded, draws, seed, magnitude, out) -> int\n\n"
"Draw `draws` positions uniformly (with replacement; a splitmix64 stream from seed) among the n\n"
"float32 at address x; write to out (room for `draws` float32) the scores (|x| with magnitude)\n"
"of those not NaN and not excluded (bool flags at address excluded, 0 for none); return how many.");

static PyObject *py_sample(PyObject *Py_UNUSED(self), PyObject *args) {
    unsigned long long x, excl, seed, out;
    Py_ssize_t n, draws;
    int magnitude;
    if (!PyArg_ParseTuple(args, "KnKnKpK", &x, &n, &excl, &draws, &seed, &magnitude, &out)) return NULL;
    if (n < 0 || draws < 0) return PyErr_Format(PyExc_ValueError, "sizes must be non-negative");
    int64_t found;
    Py_BEGIN_ALLOW_THREADS
    found = sample_scores(ADDRESS(x), n, ADDRESS(excl), draws, seed, magnitude, ADDRESS(out));
    Py_END_ALLOW_THREADS
    return PyLong_FromLongLong(found);
}

PyDoc_STRVAR(mark_doc,
"mark(flags, n, index, m, ones) -> (already, out_of_range)\n\n"
"Set the bool flags (n of them, at address flags) at the m int64 indices at address index, and\n"
"write 1.0 there in the n float32 at address ones (0: none); return how many flags were set\n"
"already and how many indices were out of range (skipped).");

static PyObject *py_mark(PyObject *Py_UNUSED(self), PyObject *args) {
    unsigned long long flags, index, ones;
    Py_ssize_t n, m;
    if (!PyArg_ParseTuple(args, "KnKnK", &flags, &n, &index, &m, &ones)) return NULL;
    if (n < 0 || m < 0) return PyErr_Format(PyExc_ValueError, "sizes must be non-negative");
    int64_t already, bad;
    Py_BEGIN_ALLOW_THREADS
    already = mark_flags(ADDRESS(flags), n, ADDRESS(index), m, ADDRESS(ones), &bad);
    Py_END_ALLOW_THREADS
    return Py_BuildValue("LL", (long long)already, (long long)bad);
}

PyDoc_STRVAR(clear_doc,
"clear_left(after, n, drops, m, targets) -> (left, out_of_range)\n\n"
"For each of the m int64 indices at address drops whose bool flag in after is not set, write\n"
"0.0 at that entry of every float32 tensor whose address is in the sequence targets (n entries\n"
"each). Returns how many entries left and how many indices were out of range (skipped).");

static PyObject *py_clear_left(PyObject *Py_UNUSED(self), PyObject *args) {
    unsigned long long after, drops;
    Py_ssize_t n, m;
    PyObject *seq;
    if (!PyArg_ParseTuple(args, "KnKnO", &after, &n, &drops, &m, &seq)) return NULL;
    if (n < 0 || m < 0) return PyErr_Format(PyExc_ValueError, "sizes must be non-negative");
    PyObject *fast = PySequence_Fast(seq, "targets must be a sequence of addresses");
    if (!fast) return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(fast);
    if (count < 1 || count > MAX_TARGETS) {
        Py_DECREF(fast);
        return PyErr_Format(PyExc_ValueError, "between 1 and %d targets, got %zd", MAX_TARGETS, count);
    }
    float *targets[MAX_TARGETS];
    for (Py_ssize_t t = 0; t < count; t++) {
        unsigned long long address = PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(fast, t));
        if (PyErr_Occurred()) {
            Py_DECREF(fast);
            return NULL;
        }
        targets[t] = ADDRESS(address);
    }
    Py_DECREF(fast);
    int64_t left, bad;
    Py_BEGIN_ALLOW_THREADS
    left = clear_left(ADDRESS(after), n, ADDRESS(drops), m, targets, (int)count, &bad);
    Py_END_ALLOW_THREADS
    return Py_BuildValue("LL", (long long)left, (long long)bad);
}

static PyObject *py_kernels(PyObject *Py_UNUSED(self), PyObject *Py_UNUSED(unused)) {
    PyObject *out = PyList_New(n_kernels);
    if (!out) return NULL;
    for (int k = 0; k < n_kernels; k++) {
        PyObject *name = PyUnicode_FromString(kernel_names[k]);
        if (!name) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, k, name);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"reach", py_reach, METH_VARARGS, reach_doc},
    {"gather_magnitudes", py_gather_magnitudes, METH_VARARGS, gather_doc},
    {"replace_at", py_replace_at, METH_VARARGS, replace_doc},
    {"sample", py_sample, METH_VARARGS, sample_doc},
    {"mark", py_mark, METH_VARARGS, mark_doc},
    {"clear_left", py_clear_left, METH_VARARGS, clear_doc},
    {"kernels", py_kernels, METH_NOARGS, "Names of the scan kernels this CPU runs, the fastest first."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native", "Compiled mask-update kernels (optional).", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    n_kernels = reach_kernels(kernel_names, kernels, MAX_KERNELS);
    return PyModule_Create(&module);
}
