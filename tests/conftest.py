"""Shared fixtures: the backends installed here, a K bound to each, float64 on demand."""
import pytest

from multirnn import backends
from multirnn.backends import config, frameworks

BACKENDS = ["numpy"]
if frameworks.HAS_TORCH:
    BACKENDS.append("torch")
if frameworks.HAS_TENSORFLOW:
    BACKENDS.append("tensorflow")
if frameworks.cuda_device_count() > 0:
    BACKENDS.append("cupy")
OTHER_BACKENDS = [b for b in BACKENDS if b != "numpy"]

needs_torch = pytest.mark.skipif(not frameworks.HAS_TORCH, reason="torch is not installed")
needs_tensorflow = pytest.mark.skipif(not frameworks.HAS_TENSORFLOW, reason="tensorflow is not installed")
needs_tf_keras = pytest.mark.skipif(not frameworks.HAS_TF_KERAS, reason="tf_keras is not installed")
needs_h5py = pytest.mark.skipif(not frameworks.HAS_H5PY, reason="h5py is not installed (pip install '.[h5]')")
needs_sklearn = pytest.mark.skipif(not (frameworks.HAS_SKLEARN and frameworks.HAS_MATPLOTLIB),
                                   reason="scikit-learn and matplotlib are not installed (pip install '.[examples]')")
gpu = pytest.mark.gpu


@pytest.fixture(params=BACKENDS)
def backend_name(request) -> str:
    return request.param


@pytest.fixture
def K(backend_name):
    """The backend object for each installed backend, in force for the test."""
    with backends.use(backend_name) as k:
        yield k


@pytest.fixture
def float64():
    """Run the test with floatx = float64, restoring the previous value afterwards."""
    previous = config.floatx()
    config.set_floatx("float64")
    yield
    config.set_floatx(previous)


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """The tensors in the tests are tiny: one BLAS and one torch thread are much faster than
    several on a busy machine, where spinning threads slow small products 10-50x."""
    if frameworks.HAS_TORCH:
        import torch
        torch.set_num_threads(1)
    if frameworks.HAS_THREADPOOLCTL:
        from threadpoolctl import threadpool_limits
        with threadpool_limits(limits=1):
            yield
    else:
        yield


@pytest.fixture(autouse=True)
def _restore_settings():
    previous = (config.floatx(), config.epsilon())
    yield
    config.set_floatx(previous[0])
    config.set_epsilon(previous[1])
