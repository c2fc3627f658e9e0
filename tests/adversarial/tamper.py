"""Read and rewrite the manifest of a saved model file, as an attacker editing the file would."""
import json

import numpy as np


def read_manifest(path: str) -> dict:
    if path.endswith(".h5"):
        import h5py
        with h5py.File(path, "r") as f:
            manifest = json.loads(f.attrs["multirnn_manifest"])
            manifest["model_config"] = json.loads(f.attrs["model_config"])
            return manifest
    with np.load(path, allow_pickle=False) as npz:
        return json.loads(str(npz["manifest"]))


def write_manifest(path: str, manifest: dict) -> None:
    if path.endswith(".h5"):
        import h5py
        with h5py.File(path, "a") as f:
            f.attrs["model_config"] = json.dumps(manifest["model_config"])
            f.attrs["multirnn_manifest"] = json.dumps({k: v for k, v in manifest.items() if k != "model_config"})
        return
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["manifest"] = np.array(json.dumps(manifest))
    with open(path, "wb") as f:
        np.savez(f, **arrays)
