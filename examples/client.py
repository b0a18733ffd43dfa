"""Calling slimmable-serve from Python with the standard library only (urllib, json, base64).

    python3 examples/client.py [--url http://localhost:8080] [--image test/fixtures/fashion-test-00000-ankle-boot.png]

It classifies one image twice, through POST /classify and through the Open Inference Protocol's
POST /v2/models/{name}/infer with the image as a BYTES input, and prints both answers' top class.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import urllib.request
from typing import Any


def call(url: str, body: bytes | None = None, content_type: str | None = None, budget_ms: int = 50) -> Any:
    headers = {"X-Latency-Budget": str(budget_ms)}
    if content_type:
        headers["Content-Type"] = content_type
    if os.environ.get("API_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['API_KEY']}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://localhost:8080")
    parser.add_argument("--image", default="test/fixtures/fashion-test-00000-ankle-boot.png")
    args = parser.parse_args()
    with open(args.image, "rb") as file:
        image = file.read()

    # 1. POST /classify: the image as the body, the latency budget as a header
    answer = call(f"{args.url}/classify?topk=1", image, "image/png")
    top = answer["predictions"][0]
    print(f"/classify: {top['label']} ({top['score']:.4f}) at width {answer['width']}, {answer['timings']['totalMs']} ms")

    # 2. Open Inference Protocol: the encoded image, base64, as a BYTES input
    model = answer["model"]
    request = {"id": "example-1", "parameters": {"latency_budget_ms": 50},
               "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": [base64.b64encode(image).decode("ascii")]}]}
    result = call(f"{args.url}/v2/models/{model}/infer", json.dumps(request).encode(), "application/json")
    probabilities = next(o for o in result["outputs"] if o["name"] == "probabilities")["data"]
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    labels = next(m for m in call(f"{args.url}/models")["models"] if m["name"] == model)["labels"]
    print(f"v2 infer:  {labels[best]} ({probabilities[best]:.4f}) at width {result['parameters']['width']}")


if __name__ == "__main__":
    main()
