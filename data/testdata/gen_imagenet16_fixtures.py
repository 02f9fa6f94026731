# Writes tiny ImageNet16-format pickles with the real pickler of the running
# Python (2.7 or 3.x), for data/imagenet16_test.go. numpy is not needed:
# stand-in classes reduce exactly as numpy's ndarray and dtype do, under the
# module names numpy uses, so the bytes are those numpy would produce.
#
#   python2.7 gen_imagenet16_fixtures.py   -> imagenet16_py2_p0.pkl, imagenet16_py2_p2.pkl
#   python3   gen_imagenet16_fixtures.py   -> imagenet16_py3_p2.pkl, imagenet16_py3_p4.pkl
import sys, types, struct

numpy = types.ModuleType('numpy')
core = types.ModuleType('numpy.core')
multiarray = types.ModuleType('numpy.core.multiarray')
sys.modules['numpy'] = numpy
sys.modules['numpy.core'] = core
sys.modules['numpy.core.multiarray'] = multiarray
numpy.core = core
core.multiarray = multiarray


def _reconstruct(cls, shape, typecode):
    raise RuntimeError('loading needs numpy')
_reconstruct.__module__ = 'numpy.core.multiarray'
multiarray._reconstruct = _reconstruct


class dtype(object):
    def __init__(self, s, order):
        self.s, self.order = s, order

    def __reduce__(self):
        return (dtype, (self.s, False, True), (3, self.order, None, None, None, -1, -1, 0))
dtype.__module__ = 'numpy'
numpy.dtype = dtype


class ndarray(object):
    def __init__(self, shape, dt, raw):
        self.shape, self.dt, self.raw = shape, dt, raw

    def __reduce__(self):
        return (_reconstruct, (ndarray, (0,), b'b'), (1, self.shape, self.dt, False, self.raw))
ndarray.__module__ = 'numpy'
numpy.ndarray = ndarray

if sys.version_info[0] == 2:
    import cPickle as pickle
    tobytes = lambda vals: ''.join(chr(v) for v in vals)
    outs = [('imagenet16_py2_p0.pkl', 0), ('imagenet16_py2_p2.pkl', 2)]
else:
    import pickle
    tobytes = bytes
    outs = [('imagenet16_py3_p2.pkl', 2), ('imagenet16_py3_p4.pkl', 4)]

# Image i, byte j holds (7*i + 13*j) % 256 (so every byte value, quotes and
# backslashes included, occurs); labels straddle the ImageNet16-120 cut.
labels = [1, 120, 121, 1000, 5]
n = len(labels)
data = ndarray((n, 768), dtype('u1', '|'), tobytes([(7 * i + 13 * j) % 256 for i in range(n) for j in range(768)]))
mean = ndarray((768,), dtype('f8', '<'), b''.join(struct.pack('<d', j / 10.0) for j in range(768)))
d = {'data': data, 'labels': labels, 'mean': mean}
for name, proto in outs:
    with open(name, 'wb') as f:
        pickle.dump(d, f, proto)
