"""The one place that knows which optional frameworks are installed; tests skip on these flags."""
import importlib
import importlib.util

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None
HAS_CUPY = importlib.util.find_spec("cupy") is not None
HAS_TF_KERAS = importlib.util.find_spec("tf_keras") is not None
HAS_THREADPOOLCTL = importlib.util.find_spec("threadpoolctl") is not None

_EXTRA = {"torch": "torch", "tensorflow": "tensorflow", "cupy": "cupy"}
_MODULE = {"torch": "torch", "tensorflow": "tensorflow", "cupy": "cupy"}


def require(framework: str):
    """Import a framework or raise an ImportError that names the pip extra to install."""
    try:
        return importlib.import_module(_MODULE[framework])
    except ImportError:
        raise ImportError(
            f"The {framework} backend needs the '{_MODULE[framework]}' package, which is not installed; "
            f"install it with: pip install 'multirnn[{_EXTRA[framework]}]'"
        ) from None


def cuda_device_count() -> int:
    """Number of CUDA devices CuPy can use (0 when CuPy or the driver is missing)."""
    if not HAS_CUPY:
        return 0
    try:
        import cupy
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


def torch_cuda_available() -> bool:
    if not HAS_TORCH:
        return False
    import torch
    return bool(torch.cuda.is_available())
